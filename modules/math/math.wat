;; math — a provider for runtime linking: other modules import its functions by the
;; import module name "math", and the host links them in the same worker at load.
;;   add(a i64, b i64) -> i64   a + b (wrapping modulo 2^64)
;;   mul(a i64, b i64) -> i64   a * b (wrapping modulo 2^64)
;;   calls() -> i64             how many add and mul calls this instance has served,
;;                              counted in a mutable global: state that lives in the
;;                              provider, not in the module importing it.
;; It has its own linear memory (unused), capped by the host like any module's.
(module
  (memory (export "memory") 1)
  (global $calls (mut i64) (i64.const 0))
  (func $count
    (global.set $calls (i64.add (global.get $calls) (i64.const 1))))
  (func $add (export "add") (param $a i64) (param $b i64) (result i64)
    call $count
    (i64.add (local.get $a) (local.get $b)))
  (func $mul (export "mul") (param $a i64) (param $b i64) (result i64)
    call $count
    (i64.mul (local.get $a) (local.get $b)))
  (func $calls (export "calls") (result i64)
    global.get $calls))
