"""The baseline of the cold build: load the model and run one eager forward pass per sentence.

``python benchmarks/bare_forward.py MODEL_FOLDER SENTENCES.json`` — what any attention tool must do at
least: import torch and transformers, load the tokenizer and the model (eager attention), and run each
sentence once with ``output_attentions=True``. Nothing is rendered or written.
"""

import json
import sys


def main(folder: str, sentences_file: str) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    sentences = json.load(open(sentences_file, encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    with torch.inference_mode():
        for text in sentences:
            inputs = tokenizer(text, return_tensors="pt", truncation=True)
            out = model(**inputs, output_attentions=True)
            assert len(out.attentions) == model.config.num_hidden_layers


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
