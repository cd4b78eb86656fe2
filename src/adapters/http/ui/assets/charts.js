// @ts-check
/**
 * Small inline-SVG charts; colours come from CSS classes so that dark mode applies.
 *
 * Each chart is drawn at the width it is shown at (one SVG unit is one CSS pixel), so its text
 * is FONT_PX on a phone as on a desktop: an SVG scaled down by its viewBox would shrink it.
 * The caller draws again when the width changes. Axis labels are measured and thinned out so
 * that no two of them overlap, however narrow the chart.
 */
import { h, s } from "./common.js";

/** The size of every label in the charts, in CSS px; call.css sets the same. */
export const FONT_PX = 12;
const DEFAULT_WIDTH = 480;
const DEFAULT_HEIGHT = 180;
/** Room between two labels, in px. */
const LABEL_GAP = 8;
const PAD_RIGHT = 12;
/** Room above the plot for a reference label drawn over its top line. */
const PAD_TOP = FONT_PX + 6;
const PAD_BOTTOM = FONT_PX + 16;

/**
 * Up to `count` round tick values from 0 to at least `max`.
 * @param {number} max
 * @param {number} [count]
 * @param {number} [minStep] 1 for counts, which have no fractions
 */
export function niceTicks(max, count = 4, minStep = 0) {
  if (!(max > 0)) return [0, 1];
  const raw = Math.max(minStep, max / count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(6)));
  return ticks;
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

/**
 * Tick positions in seconds on whole, round clock values (0:05, 0:10, 1:00…), none past `max`.
 * @param {number} max
 * @param {number} [count]
 */
export function timeTicks(max, count = 5) {
  const step = TIME_STEPS.find((candidate) => candidate * count >= max) ?? 7200;
  const ticks = [];
  for (let v = 0; v <= max; v += step) ticks.push(v);
  return ticks;
}

/** @type {CanvasRenderingContext2D | null | undefined} */
let measurer;

/**
 * The width of `text` at FONT_PX in the page's font, in px.
 * @param {string} text
 */
export function textWidth(text) {
  if (measurer === undefined) {
    measurer = document.createElement("canvas").getContext("2d");
    if (measurer) {
      const family = getComputedStyle(document.documentElement).fontFamily || "sans-serif";
      measurer.font = `${FONT_PX}px ${family}`;
    }
  }
  // Without a canvas, a wide estimate: labels are kept further apart rather than overlapping.
  return measurer ? measurer.measureText(text).width : text.length * FONT_PX * 0.65;
}

/**
 * @typedef {{ x: number, text: string }} AxisLabel
 */

/**
 * The x-axis labels that fit: each kept inside the chart and clear of the one before it.
 * @param {AxisLabel[]} labels in order of x
 * @param {number} width
 * @returns {(AxisLabel & { width: number })[]}
 */
export function fitLabels(labels, width) {
  /** @type {(AxisLabel & { width: number })[]} */
  const kept = [];
  let right = Number.NEGATIVE_INFINITY;
  for (const label of labels) {
    const w = textWidth(label.text);
    const x = Math.min(width - w / 2 - 1, Math.max(w / 2 + 1, label.x));
    if (x - w / 2 < right + LABEL_GAP) continue;
    kept.push({ x, text: label.text, width: w });
    right = x + w / 2;
  }
  return kept;
}

/**
 * @typedef {{ name: string, cls: string, points: [number, number][] }} Series
 * The x axis is time in seconds.
 * @typedef {{ title: string, description: string, series: Series[], step?: boolean,
 *   xFormat: (x: number) => string, yFormat: (y: number) => string, xMax: number,
 *   integer?: boolean, height?: number, width?: number }} LineChart
 */

/**
 * @param {LineChart} chart
 */
export function lineChart(chart) {
  const width = Math.max(160, Math.round(chart.width ?? DEFAULT_WIDTH));
  const height = chart.height ?? DEFAULT_HEIGHT;
  const yMax = Math.max(1, ...chart.series.flatMap((line) => line.points.map((p) => p[1])));
  const yTicks = niceTicks(yMax, height < 150 ? 2 : 4, chart.integer ? 1 : 0);
  const frame = plotFrame(width, height, yTicks, chart.yFormat);
  const yTop = yTicks.at(-1) ?? 1;
  const xMax = Math.max(1, chart.xMax);
  const x = (/** @type {number} */ v) => frame.left + (v / xMax) * frame.plotW;
  const y = (/** @type {number} */ v) => frame.top + frame.plotH - (v / yTop) * frame.plotH;
  const lines = chart.series.map((line) => {
    const pts = line.points;
    if (pts.length === 0) return null;
    const f = (/** @type {number} */ v) => v.toFixed(1);
    // Every series here starts at 0 when the call starts.
    let d = `M${f(x(0))},${f(y(0))}`;
    for (const [px, py] of pts) {
      d += chart.step ? `H${f(x(px))}V${f(y(py))}` : `L${f(x(px))},${f(y(py))}`;
    }
    const last = pts.at(-1);
    const dots = pts.map(([px, py]) =>
      s("circle", { cx: x(px).toFixed(1), cy: y(py).toFixed(1), r: 2.5, class: `dot ${line.cls}` }),
    );
    return s("g", {}, [
      s("path", { d, class: `line ${line.cls}` }),
      ...dots,
      last ? s("title", {}, [`${line.name}: ${chart.yFormat(last[1])}`]) : null,
    ]);
  });
  // As many clock labels as fit at their widest, then only those that do not collide.
  const widest = textWidth(chart.xFormat(xMax)) + LABEL_GAP * 2;
  const xTicks = timeTicks(xMax, Math.max(1, Math.floor(frame.plotW / widest)));
  const xLabels = xTicks.map((tick) => ({ x: x(tick), text: chart.xFormat(tick) }));
  return figure(chart.title, chart.description, chart.series, width, height, [
    ...axes(frame, yTicks, y, chart.yFormat, fitLabels(xLabels, width)),
    ...lines,
  ]);
}

/**
 * @param {{ title: string, description: string, values: number[], cls: string, name: string,
 *   yFormat: (y: number) => string, references: { value: number, label: string, cls: string }[],
 *   width?: number }} chart
 */
export function barChart(chart) {
  const width = Math.max(160, Math.round(chart.width ?? DEFAULT_WIDTH));
  const height = DEFAULT_HEIGHT;
  const yMax = Math.max(1, ...chart.values, ...chart.references.map((r) => r.value));
  const yTicks = niceTicks(yMax);
  const frame = plotFrame(width, height, yTicks, chart.yFormat);
  const yTop = yTicks.at(-1) ?? 1;
  const y = (/** @type {number} */ v) => frame.top + frame.plotH - (v / yTop) * frame.plotH;
  const slot = frame.plotW / Math.max(1, chart.values.length);
  const barW = Math.max(2, Math.min(36, slot * 0.7));
  const centre = (/** @type {number} */ i) => frame.left + slot * (i + 0.5);
  const bars = chart.values.map((value, i) => {
    const cx = centre(i);
    return s("g", {}, [
      s("rect", {
        x: (cx - barW / 2).toFixed(1),
        y: y(value).toFixed(1),
        width: barW.toFixed(1),
        height: Math.max(0, frame.top + frame.plotH - y(value)).toFixed(1),
        class: `bar ${chart.cls}`,
      }),
      s("title", {}, [`Turn ${i + 1}: ${chart.yFormat(value)}`]),
    ]);
  });
  // Turn numbers under the bars: every one that fits (1, 2, 3… or 1, 3, 5… when narrow).
  const every = Math.max(1, Math.ceil((textWidth(String(chart.values.length)) + LABEL_GAP) / slot));
  const turnLabels = chart.values
    .map((_, i) => ({ x: centre(i), text: String(i + 1) }))
    .filter((_, i) => i % every === 0);

  // Labels at both ends, so that an average equal to the p95 does not print over it; when the
  // chart is too narrow for both on one line, the second goes under its line.
  const refWidths = chart.references.map((ref) =>
    textWidth(`${ref.label} ${chart.yFormat(ref.value)}`),
  );
  const side = refWidths.slice(0, 2).reduce((sum, w) => sum + w, 0) + LABEL_GAP + 8;
  const references = chart.references.map((ref, i) => {
    const atLeft = i % 2 === 0;
    const below = i > 0 && side > frame.plotW;
    const at = y(ref.value);
    return s("g", {}, [
      s("line", {
        x1: frame.left,
        x2: width - PAD_RIGHT,
        y1: at.toFixed(1),
        y2: at.toFixed(1),
        class: `reference ${ref.cls}`,
      }),
      s(
        "text",
        {
          x: atLeft ? frame.left + 4 : width - PAD_RIGHT - 2,
          y: (below ? at + FONT_PX + 2 : at - 4).toFixed(1),
          class: `ref-label ${ref.cls}`,
          "text-anchor": atLeft ? "start" : "end",
        },
        [`${ref.label} ${chart.yFormat(ref.value)}`],
      ),
    ]);
  });
  const legend = [{ name: chart.name, cls: chart.cls, points: [] }];
  return figure(chart.title, chart.description, legend, width, height, [
    ...axes(frame, yTicks, y, chart.yFormat, fitLabels(turnLabels, width)),
    ...bars,
    ...references,
  ]);
}

/**
 * @typedef {{ left: number, top: number, right: number, bottom: number, plotW: number,
 *   plotH: number, width: number, height: number }} Frame
 */

/**
 * The plot area: the left margin as wide as the widest y label.
 * @param {number} width
 * @param {number} height
 * @param {number[]} yTicks
 * @param {(v: number) => string} yFormat
 * @returns {Frame}
 */
function plotFrame(width, height, yTicks, yFormat) {
  const left = Math.ceil(Math.max(...yTicks.map((t) => textWidth(yFormat(t))))) + 10;
  const right = width - PAD_RIGHT;
  const bottom = height - PAD_BOTTOM;
  return {
    left,
    top: PAD_TOP,
    right,
    bottom,
    plotW: Math.max(1, right - left),
    plotH: Math.max(1, bottom - PAD_TOP),
    width,
    height,
  };
}

/**
 * @param {Frame} frame
 * @param {number[]} yTicks
 * @param {(v: number) => number} y
 * @param {(v: number) => string} yFormat
 * @param {AxisLabel[]} xLabels already fitted
 */
function axes(frame, yTicks, y, yFormat, xLabels) {
  const out = [];
  for (const tick of yTicks) {
    out.push(
      s("line", { x1: frame.left, x2: frame.right, y1: y(tick), y2: y(tick), class: "grid" }),
      s(
        "text",
        {
          x: frame.left - 6,
          y: (y(tick) + FONT_PX / 3).toFixed(1),
          class: "tick-label",
          "text-anchor": "end",
        },
        [yFormat(tick)],
      ),
    );
  }
  for (const label of xLabels) {
    out.push(
      s(
        "text",
        {
          x: label.x.toFixed(1),
          y: frame.height - 6,
          class: "tick-label",
          "text-anchor": "middle",
        },
        [label.text],
      ),
    );
  }
  out.push(
    s("line", {
      x1: frame.left,
      x2: frame.left,
      y1: frame.top,
      y2: frame.bottom,
      class: "axis",
    }),
    s("line", {
      x1: frame.left,
      x2: frame.right,
      y1: frame.bottom,
      y2: frame.bottom,
      class: "axis",
    }),
  );
  return out;
}

/**
 * @param {string} title
 * @param {string} description
 * @param {{ name: string, cls: string }[]} legend
 * @param {number} width
 * @param {number} height
 * @param {(SVGElement | null)[]} content
 */
function figure(title, description, legend, width, height, content) {
  const svg = s(
    "svg",
    {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "img",
      "aria-label": `${title}. ${description}`,
    },
    content,
  );
  return h("figure", { class: "chart" }, [
    h("figcaption", {}, [
      h("span", { class: "chart-title" }, [title]),
      h(
        "ul",
        { class: "legend" },
        legend.map((item) => h("li", {}, [h("span", { class: `swatch ${item.cls}` }), item.name])),
      ),
    ]),
    svg,
  ]);
}
