/** The HTTP/JSON bridge: `/api`, the Connect protocol, the browser client and demo page. */
export { startBridge, inProcess, type BridgeOptions, type RunningBridge, type Upstream } from "./start.js";
export { HTTP_STATUS_OF_REASON } from "./http/status.js";
export { metricsObserver } from "./http/metrics-observer.js";
