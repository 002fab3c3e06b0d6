"""Natural English text for the benchmarks (original prose, long enough for 512 MiniLM tokens)."""

from __future__ import annotations

import re

PROSE = """\
The old lighthouse stood at the end of a narrow spit of rock, and for most of the year nobody climbed its stairs.
In winter the keeper's cottage was let to a painter who liked storms, and in summer it was locked.
Every evening the lamp still turned, although a small motor now did the work that three men once shared.
Fishermen who grew up in the village said they could tell the weather from the colour of the beam.
When the fog came in from the west, the light looked orange and soft, and the boats stayed in the harbour.
On clear nights it was white and sharp, and you could count the seconds between flashes from the hill behind the church.
The painter arrived in November with two suitcases, a folding easel and a dog that was afraid of the sea.
She spent the first week mending the stove, because the cottage had been empty since the spring.
After that she walked along the shore each morning, collecting driftwood and sketching the gulls that fought over scraps.
The dog followed at a careful distance, barking at every wave that came further up the sand than the last one.
In the afternoons she painted the same view of the bay again and again, each time with different light.
Some pictures were almost black, with only a thin line of silver where the water met the sky.
Others were full of yellow and green, as if the storm had broken and the sun had come out for a minute.
People from the village began to visit, first out of curiosity and later because they liked the tea she made.
The baker brought bread on Fridays, and the harbour master told long stories about ships that had sunk nearby.
One of those stories was about a cargo of oranges that washed up on the beach after a gale in the last century.
For a whole week, he said, every child in the village had orange peel in their pockets and sticky hands.
The painter wrote the story down in a notebook and later made a small picture of a beach covered in bright fruit.
By February the days were getting longer, and the light in the studio changed from grey to pale gold.
She noticed that the lamp above her seemed to turn more slowly on calm nights, although the motor never changed speed.
An engineer from the coast guard explained that it was an illusion caused by the way the beam caught the mist.
He came every month to check the batteries, the lens and the small computer that logged each rotation.
The computer sent a message to the mainland if the lamp stopped, but in forty years it had never stopped.
In March a storm tore a slate from the roof, and rain dripped into a bucket beside the bed for three nights.
The painter did not mind; she painted the bucket, the drops and the circles they made on the surface of the water.
When spring came the tourists returned, walking out along the rocks to photograph the tower against the sky.
Most of them did not know that someone lived in the cottage, and a few knocked on the door to ask for directions.
She gave them directions, sold them small prints of the bay, and sometimes let them climb the stairs to the lamp.
From the top you could see the whole coast, the islands to the north and the line of hills beyond the marsh.
At the end of April her lease ran out, and she packed the suitcases, the easel and more than a hundred paintings.
The dog, which had finally learned to like the sea, ran into the waves one last time before they left.
The lighthouse went on turning, white on clear nights and orange in the fog, as it had for a hundred and fifty years.
Years later a gallery in the city showed the paintings together, and people stood for a long time in front of the dark ones.
Visitors said the pictures made them feel the cold and hear the wind, even in a warm room full of strangers.
The harbour master came to the opening in his best coat and told everyone the story of the oranges again.
"""


def sentences() -> list[str]:
    """The prose split into sentences (35 of them)."""
    return [s.strip() for s in re.split(r"(?<=[.;])\s+", PROSE) if s.strip()]


def site_sentences(count: int) -> list[str]:
    """``count`` distinct natural sentences for a site: the prose's sentences, then pairs of them."""
    base = sentences()
    out = list(base)
    i = 0
    while len(out) < count:
        out.append(f"{base[i % len(base)]} {base[(i + 7) % len(base)]}")
        i += 1
    return out[:count]


def long_text() -> str:
    """All the prose on one line (about 800 MiniLM tokens): truncate with ``max_tokens``."""
    return " ".join(sentences())
