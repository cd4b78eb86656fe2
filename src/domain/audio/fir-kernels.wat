;; The resampler's interpolation kernels (resampler.ts: interpolateBy2, interpolateBy3) in
;; WebAssembly with 128-bit SIMD. Compiled into fir-kernels-wasm.ts by
;; `npm run build:kernels`; a test recompiles this file and compares the bytes.
;;
;; Why: they were the largest single cost of a live call after socket writes (8 -> 24 kHz for
;; the model, 8 -> 16 kHz for the recording). Each f64x2 lane is one output, accumulated in the
;; same order and in the same float64 arithmetic as the JavaScript loop (multiply, round, add,
;; round; WebAssembly has no fused multiply-add here), so both give bit-identical samples and
;; the JavaScript loop remains the reference and the fallback.
;;
;; Layout: the caller copies the coefficient rows and the input window into this memory and
;; passes byte addresses; outputs are int16, in the order the JavaScript kernels write them.
(module
  (memory (export "memory") 1)

  ;; After the taps, each accumulator pair becomes two int16 as toInt16 of resampler.ts does it:
  ;; saturate, then Math.round (halves toward +infinity; clamping first gives the same result).
  ;; v - floor(v) is exact in float64 for every |v| < 2^52, so the halfway test is exact.
  ;; i32x4.trunc_sat_f64x2_s_zero leaves lane i's int in lane i. Written out in each kernel, not
  ;; called: V8 does not inline WebAssembly calls, and the call cost more than the rounding.
  ;;
  ;; Four consecutive input indices per block, windows starting at x, x+1, x+2, x+3 (samples).
  ;; Lanes: $p01 holds indices 0 and 1, $p23 indices 2 and 3, for phase 1 (and $q for phase 2).
  ;; Phase 0 is the input sample at centreBack itself.
  (func (export "interpolateBy3")
    (param $x i32) (param $blocks i32) (param $out i32) (param $c1 i32) (param $c2 i32)
    (param $taps i32) (param $centreBack i32)
    (local $j i32) (local $xp i32) (local $k1p i32) (local $k2p i32) (local $centre i32)
    (local $p01 v128) (local $q01 v128) (local $p23 v128) (local $q23 v128)
    (local $v01 v128) (local $v23 v128) (local $k1 v128) (local $k2 v128) (local $t v128) (local $f v128)
    (block $done
      (loop $block
        (br_if $done (i32.eqz (local.get $blocks)))
        (local.set $p01 (v128.const i64x2 0 0))
        (local.set $q01 (v128.const i64x2 0 0))
        (local.set $p23 (v128.const i64x2 0 0))
        (local.set $q23 (v128.const i64x2 0 0))
        (local.set $xp (local.get $x))
        (local.set $k1p (local.get $c1))
        (local.set $k2p (local.get $c2))
        (local.set $j (local.get $taps))
        (loop $tap
          (local.set $v01 (v128.load (local.get $xp)))
          (local.set $v23 (v128.load offset=16 (local.get $xp)))
          (local.set $k1 (v128.load64_splat (local.get $k1p)))
          (local.set $k2 (v128.load64_splat (local.get $k2p)))
          (local.set $p01 (f64x2.add (local.get $p01) (f64x2.mul (local.get $k1) (local.get $v01))))
          (local.set $q01 (f64x2.add (local.get $q01) (f64x2.mul (local.get $k2) (local.get $v01))))
          (local.set $p23 (f64x2.add (local.get $p23) (f64x2.mul (local.get $k1) (local.get $v23))))
          (local.set $q23 (f64x2.add (local.get $q23) (f64x2.mul (local.get $k2) (local.get $v23))))
          (local.set $xp (i32.add (local.get $xp) (i32.const 8)))
          (local.set $k1p (i32.add (local.get $k1p) (i32.const 8)))
          (local.set $k2p (i32.add (local.get $k2p) (i32.const 8)))
          (local.set $j (i32.sub (local.get $j) (i32.const 1)))
          (br_if $tap (local.get $j)))
        (local.set $centre (i32.add (local.get $x) (i32.shl (local.get $centreBack) (i32.const 3))))
        (local.set $t (f64x2.max (f64x2.min (local.get $p01) (v128.const f64x2 32767 32767))
                                 (v128.const f64x2 -32768 -32768)))
        (local.set $f (f64x2.floor (local.get $t)))
        (local.set $p01 (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f)
          (v128.and (f64x2.ge (f64x2.sub (local.get $t) (local.get $f)) (v128.const f64x2 0.5 0.5))
                    (v128.const f64x2 1 1)))))
        (local.set $t (f64x2.max (f64x2.min (local.get $q01) (v128.const f64x2 32767 32767))
                                 (v128.const f64x2 -32768 -32768)))
        (local.set $f (f64x2.floor (local.get $t)))
        (local.set $q01 (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f)
          (v128.and (f64x2.ge (f64x2.sub (local.get $t) (local.get $f)) (v128.const f64x2 0.5 0.5))
                    (v128.const f64x2 1 1)))))
        (local.set $t (f64x2.max (f64x2.min (local.get $p23) (v128.const f64x2 32767 32767))
                                 (v128.const f64x2 -32768 -32768)))
        (local.set $f (f64x2.floor (local.get $t)))
        (local.set $p23 (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f)
          (v128.and (f64x2.ge (f64x2.sub (local.get $t) (local.get $f)) (v128.const f64x2 0.5 0.5))
                    (v128.const f64x2 1 1)))))
        (local.set $t (f64x2.max (f64x2.min (local.get $q23) (v128.const f64x2 32767 32767))
                                 (v128.const f64x2 -32768 -32768)))
        (local.set $f (f64x2.floor (local.get $t)))
        (local.set $q23 (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f)
          (v128.and (f64x2.ge (f64x2.sub (local.get $t) (local.get $f)) (v128.const f64x2 0.5 0.5))
                    (v128.const f64x2 1 1)))))
        (i32.store16 (local.get $out) (i32.trunc_f64_s (f64.load (local.get $centre))))
        (i32.store16 offset=2 (local.get $out) (i32x4.extract_lane 0 (local.get $p01)))
        (i32.store16 offset=4 (local.get $out) (i32x4.extract_lane 0 (local.get $q01)))
        (i32.store16 offset=6 (local.get $out) (i32.trunc_f64_s (f64.load offset=8 (local.get $centre))))
        (i32.store16 offset=8 (local.get $out) (i32x4.extract_lane 1 (local.get $p01)))
        (i32.store16 offset=10 (local.get $out) (i32x4.extract_lane 1 (local.get $q01)))
        (i32.store16 offset=12 (local.get $out) (i32.trunc_f64_s (f64.load offset=16 (local.get $centre))))
        (i32.store16 offset=14 (local.get $out) (i32x4.extract_lane 0 (local.get $p23)))
        (i32.store16 offset=16 (local.get $out) (i32x4.extract_lane 0 (local.get $q23)))
        (i32.store16 offset=18 (local.get $out) (i32.trunc_f64_s (f64.load offset=24 (local.get $centre))))
        (i32.store16 offset=20 (local.get $out) (i32x4.extract_lane 1 (local.get $p23)))
        (i32.store16 offset=22 (local.get $out) (i32x4.extract_lane 1 (local.get $q23)))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (local.set $out (i32.add (local.get $out) (i32.const 24)))
        (local.set $blocks (i32.sub (local.get $blocks) (i32.const 1)))
        (br $block))))

  ;; As interpolateBy3, with one phase besides the input sample.
  (func (export "interpolateBy2")
    (param $x i32) (param $blocks i32) (param $out i32) (param $c1 i32)
    (param $taps i32) (param $centreBack i32)
    (local $j i32) (local $xp i32) (local $k1p i32) (local $centre i32)
    (local $p01 v128) (local $p23 v128) (local $k1 v128) (local $t v128) (local $f v128)
    (block $done
      (loop $block
        (br_if $done (i32.eqz (local.get $blocks)))
        (local.set $p01 (v128.const i64x2 0 0))
        (local.set $p23 (v128.const i64x2 0 0))
        (local.set $xp (local.get $x))
        (local.set $k1p (local.get $c1))
        (local.set $j (local.get $taps))
        (loop $tap
          (local.set $k1 (v128.load64_splat (local.get $k1p)))
          (local.set $p01
            (f64x2.add (local.get $p01) (f64x2.mul (local.get $k1) (v128.load (local.get $xp)))))
          (local.set $p23
            (f64x2.add (local.get $p23) (f64x2.mul (local.get $k1) (v128.load offset=16 (local.get $xp)))))
          (local.set $xp (i32.add (local.get $xp) (i32.const 8)))
          (local.set $k1p (i32.add (local.get $k1p) (i32.const 8)))
          (local.set $j (i32.sub (local.get $j) (i32.const 1)))
          (br_if $tap (local.get $j)))
        (local.set $centre (i32.add (local.get $x) (i32.shl (local.get $centreBack) (i32.const 3))))
        (local.set $t (f64x2.max (f64x2.min (local.get $p01) (v128.const f64x2 32767 32767))
                                 (v128.const f64x2 -32768 -32768)))
        (local.set $f (f64x2.floor (local.get $t)))
        (local.set $p01 (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f)
          (v128.and (f64x2.ge (f64x2.sub (local.get $t) (local.get $f)) (v128.const f64x2 0.5 0.5))
                    (v128.const f64x2 1 1)))))
        (local.set $t (f64x2.max (f64x2.min (local.get $p23) (v128.const f64x2 32767 32767))
                                 (v128.const f64x2 -32768 -32768)))
        (local.set $f (f64x2.floor (local.get $t)))
        (local.set $p23 (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (local.get $f)
          (v128.and (f64x2.ge (f64x2.sub (local.get $t) (local.get $f)) (v128.const f64x2 0.5 0.5))
                    (v128.const f64x2 1 1)))))
        (i32.store16 (local.get $out) (i32.trunc_f64_s (f64.load (local.get $centre))))
        (i32.store16 offset=2 (local.get $out) (i32x4.extract_lane 0 (local.get $p01)))
        (i32.store16 offset=4 (local.get $out) (i32.trunc_f64_s (f64.load offset=8 (local.get $centre))))
        (i32.store16 offset=6 (local.get $out) (i32x4.extract_lane 1 (local.get $p01)))
        (i32.store16 offset=8 (local.get $out) (i32.trunc_f64_s (f64.load offset=16 (local.get $centre))))
        (i32.store16 offset=10 (local.get $out) (i32x4.extract_lane 0 (local.get $p23)))
        (i32.store16 offset=12 (local.get $out) (i32.trunc_f64_s (f64.load offset=24 (local.get $centre))))
        (i32.store16 offset=14 (local.get $out) (i32x4.extract_lane 1 (local.get $p23)))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $blocks (i32.sub (local.get $blocks) (i32.const 1)))
        (br $block))))
)
