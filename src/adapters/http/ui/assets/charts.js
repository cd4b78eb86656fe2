// @ts-check
/** Small inline-SVG charts; colours come from CSS classes so that dark mode applies. */
import { h, s } from "./common.js";

const WIDTH = 480;
const DEFAULT_HEIGHT = 180;
const PAD = { left: 44, right: 16, top: 10, bottom: 26 };
const PLOT_W = WIDTH - PAD.left - PAD.right;

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

/**
 * @typedef {{ name: string, cls: string, points: [number, number][] }} Series
 * The x axis is time in seconds.
 * @typedef {{ title: string, description: string, series: Series[], step?: boolean,
 *   xFormat: (x: number) => string, yFormat: (y: number) => string, xMax: number,
 *   integer?: boolean, height?: number }} LineChart
 */

/**
 * @param {LineChart} chart
 */
export function lineChart(chart) {
  const height = chart.height ?? DEFAULT_HEIGHT;
  const plotH = height - PAD.top - PAD.bottom;
  const yMax = Math.max(1, ...chart.series.flatMap((line) => line.points.map((p) => p[1])));
  const yTicks = niceTicks(yMax, 4, chart.integer ? 1 : 0);
  const yTop = yTicks.at(-1) ?? 1;
  const xMax = Math.max(1, chart.xMax);
  const x = (/** @type {number} */ v) => PAD.left + (v / xMax) * PLOT_W;
  const y = (/** @type {number} */ v) => PAD.top + plotH - (v / yTop) * plotH;
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
  const xTicks = timeTicks(xMax);
  return figure(chart.title, chart.description, chart.series, height, [
    ...axes(height, yTicks, y, chart.yFormat, xTicks, x, chart.xFormat),
    ...lines,
  ]);
}

/**
 * @param {{ title: string, description: string, values: number[], cls: string, name: string,
 *   yFormat: (y: number) => string, references: { value: number, label: string, cls: string }[] }} chart
 */
export function barChart(chart) {
  const height = DEFAULT_HEIGHT;
  const plotH = height - PAD.top - PAD.bottom;
  const yMax = Math.max(1, ...chart.values, ...chart.references.map((r) => r.value));
  const yTicks = niceTicks(yMax);
  const yTop = yTicks.at(-1) ?? 1;
  const y = (/** @type {number} */ v) => PAD.top + plotH - (v / yTop) * plotH;
  const slot = PLOT_W / Math.max(1, chart.values.length);
  const barW = Math.max(2, Math.min(36, slot * 0.7));
  const bars = chart.values.map((value, i) => {
    const cx = PAD.left + slot * (i + 0.5);
    return s("g", {}, [
      s("rect", {
        x: (cx - barW / 2).toFixed(1),
        y: y(value).toFixed(1),
        width: barW.toFixed(1),
        height: Math.max(0, PAD.top + plotH - y(value)).toFixed(1),
        class: `bar ${chart.cls}`,
      }),
      s("title", {}, [`Turn ${i + 1}: ${chart.yFormat(value)}`]),
      chart.values.length <= 24
        ? s(
            "text",
            { x: cx.toFixed(1), y: height - 8, class: "tick-label", "text-anchor": "middle" },
            [String(i + 1)],
          )
        : null,
    ]);
  });
  // Labels at both ends, so that an average equal to the p95 does not print over it.
  const references = chart.references.map((ref, i) => {
    const atLeft = i % 2 === 0;
    return s("g", {}, [
      s("line", {
        x1: PAD.left,
        x2: WIDTH - PAD.right,
        y1: y(ref.value).toFixed(1),
        y2: y(ref.value).toFixed(1),
        class: `reference ${ref.cls}`,
      }),
      s(
        "text",
        {
          x: atLeft ? PAD.left + 4 : WIDTH - PAD.right - 2,
          y: (y(ref.value) - 4).toFixed(1),
          class: `ref-label ${ref.cls}`,
          "text-anchor": atLeft ? "start" : "end",
        },
        [`${ref.label} ${chart.yFormat(ref.value)}`],
      ),
    ]);
  });
  const legend = [{ name: chart.name, cls: chart.cls, points: [] }];
  return figure(chart.title, chart.description, legend, height, [
    ...axes(
      height,
      yTicks,
      y,
      chart.yFormat,
      [],
      () => 0,
      () => "",
    ),
    ...bars,
    ...references,
  ]);
}

/**
 * @param {number} height
 * @param {number[]} yTicks
 * @param {(v: number) => number} y
 * @param {(v: number) => string} yFormat
 * @param {number[]} xTicks
 * @param {(v: number) => number} x
 * @param {(v: number) => string} xFormat
 */
function axes(height, yTicks, y, yFormat, xTicks, x, xFormat) {
  const bottom = height - PAD.bottom;
  const out = [];
  for (const tick of yTicks) {
    out.push(
      s("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(tick), y2: y(tick), class: "grid" }),
      s("text", { x: PAD.left - 6, y: y(tick) + 4, class: "tick-label", "text-anchor": "end" }, [
        yFormat(tick),
      ]),
    );
  }
  for (const tick of xTicks) {
    out.push(
      s("text", { x: x(tick), y: height - 8, class: "tick-label", "text-anchor": "middle" }, [
        xFormat(tick),
      ]),
    );
  }
  out.push(
    s("line", { x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: bottom, class: "axis" }),
    s("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: bottom, y2: bottom, class: "axis" }),
  );
  return out;
}

/**
 * @param {string} title
 * @param {string} description
 * @param {{ name: string, cls: string }[]} legend
 * @param {number} height
 * @param {(SVGElement | null)[]} content
 */
function figure(title, description, legend, height, content) {
  const svg = s(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${height}`, role: "img", "aria-label": `${title}. ${description}` },
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
