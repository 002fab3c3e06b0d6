// What the page scripts find on window (checked by `tsc -p .`): the one namespaced object, and BokehJS.
interface Window {
  Attnviz: AttnvizNS;
  __attnvizTurns?: any;  // a host page's queue of figures waiting to draw (attnviz-common.js, turns)
  __attnvizHost?: boolean;  // the host page has its figures' script (attnviz-host.js)
}
declare var Bokeh: any;
