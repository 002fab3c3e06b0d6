// What the page scripts find on window (checked by `tsc -p .`): the one namespaced object, and BokehJS.
interface Window {
  Attnviz: AttnvizNS;
  __attnvizTurns?: any;  // a host page's queue of figures waiting to draw (attnviz-common.js, turns)
}
declare var Bokeh: any;
