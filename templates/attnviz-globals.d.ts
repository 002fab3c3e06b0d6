// What the page scripts find on window (checked by `tsc -p .`): the one namespaced object, and BokehJS.
interface Window {
  Attnviz: AttnvizNS;
  __attnvizTurns?: any;  // a host page's queue of figures waiting to draw (attnviz-common.js, turns)
  // the host page has its figures' script (attnviz-host.js); each later figure hands it its frame (seen)
  __attnvizHost?: { seen: (figure: ParentNode) => void } | true;
}
declare var Bokeh: any;
