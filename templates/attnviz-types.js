// @ts-check
/* mkdocs-attnviz: the page contract as the scripts see it (checked by `tsc -p .`, never loaded by a page).
 * The same shape as mkdocs_attnviz/contract.py (a test checks that both name the same fields): every figure
 * page carries one Payload in <script type="application/json" id="attnviz-data">. */

/**
 * One axis of an attention set.
 * @typedef {Object} Axis
 * @property {string[]} labels the tokens' labels
 * @property {string[]} ticks shortened labels for the axes
 * @property {string[]} tokens the raw tokens
 * @property {boolean[]} special special tokens
 * @property {number[]} segments 1: a token of the pair sentence
 */

/**
 * One attention set: nq queries × nk keys.
 * @typedef {Object} AttentionSet
 * @property {number} nq
 * @property {number} nk
 * @property {Axis} q
 * @property {Axis} k
 * @property {boolean} causal the future is masked
 * @property {boolean} square
 */

/**
 * What every figure page carries; a view's own keys come beside these (its script declares them).
 * @typedef {Object} Payload
 * @property {number} version the contract's version (Attnviz.VERSION)
 * @property {string} view
 * @property {string} title
 * @property {string} model
 * @property {string} who
 * @property {string} text
 * @property {string|null} pair
 * @property {string} theme auto | light | dark
 * @property {number} num_layers
 * @property {number} num_heads
 * @property {number|string} layer
 * @property {number|string} head
 * @property {number|null} query
 * @property {string|null} filter
 * @property {string} set
 * @property {Object<string, AttentionSet>} sets
 * @property {string[]|null} palette the colour map, #rrggbb (null: the heatmap's colours are its Bokeh document's)
 * @property {number} scale a packed weight is round(w * scale)
 * @property {boolean} hidden
 * @property {Object<string, any>} i18n
 * @property {LiveInfo|null} live a live figure's manifest and runtime (null unless the figure is live)
 */

/**
 * A live figure's way to the model (attnviz-live.js fetches nothing until the reader asks).
 * @typedef {Object} LiveInfo
 * @property {string} manifest the URL of the export's live.json, relative to the figure page
 * @property {string} runtime the URL of the runtime folder (onnxruntime-web, tokenizers), ending in "/"
 * @property {string|null} reason null, or why this page cannot go live (in the figure's language)
 */

/**
 * The page's one global (window.Attnviz).
 * @typedef {Object} AttnvizNS
 * @property {number} VERSION the page contract the scripts read
 * @property {Object<string, any>} [words] the words of the page's language (attnviz-texts.<lang>.js)
 * @property {Object<string, any>} [docs] the site's shared Bokeh documents (attnviz-doc-<id>.js)
 * @property {(id: string, text: string) => void} [side] what a side file calls with its data
 * @property {any} [core] the client core (attnviz-common.js)
 * @property {any} [canvas] the canvas views' shared part (attnviz-canvas.js)
 * @property {any} [matrix] one labelled matrix on a canvas (attnviz-matrix.js)
 * @property {any} [keys] keyboard support (attnviz-keys.js)
 * @property {Payload & Object<string, any>} [data] the page's payload, once read
 * @property {boolean} [ready] the figure has drawn its current choice
 * @property {() => any} [state] what the figure shows now
 * @property {any} [handle] the view's own handle (select a head, hover a token...)
 * @property {{name: string, text: string}} [lastDownload] the last CSV/JSON saved
 * @property {() => Promise<any>} [reload] the view draws the payload's sets again (a live figure changed them)
 * @property {{state: () => Object<string, any>}} [live] a live figure's box (attnviz-live.js): what it did
 * @property {(axis: string, tick: number) => string} [tickLabel] the heatmap's tick labels (Bokeh calls it)
 * @property {() => any} [view] the heatmap's view
 * @property {() => any} [frame] the heatmap's plot frame in viewport px
 * @property {(a: number, b: number) => void} [zoom] the heatmap: tokens a..b-1 on both axes
 * @property {(q: number, k: number, tile: number) => ({q: number, k: number, layer: number, head: (number|string),
 *   w: number, masked?: boolean, block?: number} | null)} [cell] the heatmap: the cell of query q and key k in a tile
 * @property {() => ({tiles: number, cols: number, n: number, gap: number, x: number[], y: number[]} | null)} [layout]
 *   the heatmap: the tiles drawn and the plot's visible ranges, in cells (attnviz-keys.js walks them)
 */
