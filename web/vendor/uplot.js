// uPlot: the measure series chart (canvas; no inline styles or scripts).
export { default } from "uplot";
