// @ts-check
/** The recording drawn as one lane per speaker, with turn markers, a playhead and seeking. */
import { fitLabels, timeTicks } from "./charts.js";
import { formatDuration, h, s } from "./common.js";

/**
 * @typedef {{ channels: number, durationSeconds: number, buckets: number, peaks: number[][] }} Peaks
 * @typedef {{ id: string, offsetMs: number | null, speaker: string, interrupted: boolean }} Marker
 * @typedef {{ update(seconds: number): void, setMarkers(markers: Marker[]): void }} Waveform
 */

const SPEAKERS = ["caller", "assistant"];
/** Quiet lanes are not blown up into noise: amplitudes are scaled to at least this peak. */
const MIN_PEAK = 2000;
const SEEK_STEP_S = 5;

/**
 * @param {HTMLElement} container
 * @param {{ peaks: Peaks, markers: Marker[], onSeek: (seconds: number) => void }} options
 * @returns {Waveform}
 */
export function drawWaveform(container, { peaks, markers, onSeek }) {
  const duration = peaks.durationSeconds;
  // Shown first: its width decides how many time labels fit.
  container.hidden = false;
  const stereo = peaks.peaks.length >= 2;
  const lanes = peaks.peaks.slice(0, 2).map((channel, i) => {
    const speaker = SPEAKERS[i] ?? "caller";
    return lane(channel, peaks.buckets, speaker, stereo ? speaker : "caller (mono)");
  });
  const playhead = h("div", { class: "playhead" });
  // Labels sit in their own column so they never hide the start of the audio.
  const labels = h(
    "div",
    { class: "lane-labels", "aria-hidden": "true" },
    lanes.map((l) => l.label),
  );
  const track = h("div", { class: "waves" }, [...lanes.map((l) => l.element), playhead]);
  const axis = h("div", { class: "time-axis", "aria-hidden": "true" });
  container.replaceChildren(
    h("div", { class: "lanes" }, [labels, track]),
    h("div", { class: "axis-row" }, [axis]),
  );
  // Time labels for the width the lanes have, drawn again when it changes: about one per
  // 70 px, so a phone gets fewer than a desktop, and none over another or past the ends.
  let axisWidth = 0;
  const labelAxis = () => {
    const width = Math.round(track.clientWidth);
    if (width === axisWidth || width === 0) return;
    axisWidth = width;
    const ticks = timeTicks(duration, Math.max(2, Math.floor(width / 70)));
    const fitted = fitLabels(
      ticks.map((tick) => ({
        x: (tick / Math.max(duration, 0.001)) * width,
        text: formatDuration(tick),
      })),
      width,
    );
    axis.replaceChildren(
      ...fitted.map((label) => {
        const span = h("span", {}, [label.text]);
        span.style.left = `${((label.x / width) * 100).toFixed(3)}%`;
        return span;
      }),
    );
  };
  labelAxis();
  new ResizeObserver(labelAxis).observe(track);
  container.setAttribute("role", "slider");
  container.tabIndex = 0;
  container.setAttribute("aria-label", "Position in the recording");
  container.setAttribute("aria-valuemin", "0");
  container.setAttribute("aria-valuemax", String(Math.round(duration)));

  let current = 0;
  /** @param {number} seconds */
  const seek = (seconds) => onSeek(Math.min(duration, Math.max(0, seconds)));
  /** @param {PointerEvent} event */
  const seekToPointer = (event) => {
    const box = track.getBoundingClientRect();
    seek(((event.clientX - box.left) / box.width) * duration);
  };
  track.addEventListener("pointerdown", (event) => {
    track.setPointerCapture(event.pointerId);
    seekToPointer(event);
  });
  track.addEventListener("pointermove", (event) => {
    if (track.hasPointerCapture(event.pointerId)) seekToPointer(event);
  });
  container.addEventListener("keydown", (event) => {
    const moves = /** @type {Record<string, number>} */ ({
      ArrowLeft: -SEEK_STEP_S,
      ArrowRight: SEEK_STEP_S,
      PageDown: -30,
      PageUp: 30,
    });
    if (event.key in moves) seek(current + (moves[event.key] ?? 0));
    else if (event.key === "Home") seek(0);
    else if (event.key === "End") seek(duration);
    else return;
    event.preventDefault();
  });

  const waveform = {
    /** @param {number} seconds */
    update(seconds) {
      current = seconds;
      const fraction = duration > 0 ? Math.min(1, seconds / duration) : 0;
      playhead.style.left = `${(fraction * 100).toFixed(3)}%`;
      container.setAttribute("aria-valuenow", String(Math.round(seconds)));
      container.setAttribute(
        "aria-valuetext",
        `${formatDuration(seconds)} of ${formatDuration(duration)}`,
      );
    },
    /** @param {Marker[]} list */
    setMarkers(list) {
      for (const [i, l] of lanes.entries()) {
        const mine = stereo ? list.filter((m) => m.speaker === SPEAKERS[i]) : list;
        l.setMarkers(mine, duration);
      }
    },
  };
  waveform.setMarkers(markers);
  waveform.update(0);
  return waveform;
}

/**
 * @param {number[]} channel interleaved [min, max] per bucket
 * @param {number} buckets
 * @param {string} speaker
 * @param {string} label
 */
function lane(channel, buckets, speaker, label) {
  let peak = MIN_PEAK;
  for (const v of channel) peak = Math.max(peak, Math.abs(v));
  const y = (/** @type {number} */ v) => (50 - (v / peak) * 48).toFixed(1);
  // The outline along the maxima, then back along the minima: one filled shape per lane.
  let top = "";
  let bottom = "";
  for (let b = 0; b < buckets; b++) {
    top += `${b === 0 ? "M" : "L"}${b},${y(channel[2 * b + 1] ?? 0)}`;
  }
  for (let b = buckets - 1; b >= 0; b--) bottom += `L${b + 1},${y(channel[2 * b] ?? 0)}`;
  const markerLayer = s("g", { class: "markers" });
  const svg = s(
    "svg",
    {
      viewBox: `0 0 ${Math.max(1, buckets)} 100`,
      preserveAspectRatio: "none",
      "aria-hidden": "true",
    },
    [
      s("line", { x1: 0, x2: buckets, y1: 50, y2: 50, class: "midline" }),
      s("path", { d: `${top}${bottom}Z`, class: "wave" }),
      markerLayer,
    ],
  );
  const element = h("div", { class: `lane lane-${speaker}` }, [svg]);
  return {
    element,
    label: h("span", { class: `lane-label lane-${speaker}` }, [label]),
    /**
     * @param {Marker[]} markers
     * @param {number} duration
     */
    setMarkers(markers, duration) {
      const width = Math.max(1, buckets / 400);
      markerLayer.replaceChildren(
        ...markers
          .filter((m) => m.offsetMs !== null && duration > 0)
          .map((m) =>
            s("rect", {
              x: (((m.offsetMs ?? 0) / 1000 / duration) * buckets).toFixed(2),
              y: 0,
              width,
              height: 100,
              class: `marker marker-${m.speaker}${m.interrupted ? " marker-interrupted" : ""}`,
            }),
          ),
      );
    },
  };
}
