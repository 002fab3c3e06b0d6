"""The shared toolkit every view draws with: the page shell (:mod:`.page`), the matplotlib side (:mod:`.mpl`),
the Bokeh document (:mod:`.bokeh`) and colour maps (:mod:`.colors`). Public names only; no view logic."""
