;; calc — an app linked at runtime to the provider "math" (modules/math): it imports
;; math.add, math.mul and math.calls and defines no arithmetic of its own.
;;   square_plus(x i64) -> i64  math.add(math.mul(x, x), x) = x·x + x: 7 → 56
;;   math_calls() -> i64        math.calls(): the provider's count of add and mul calls
;;                              (2 per square_plus on the same instance)
;;   forever()                  a loop without end; only the host can stop it, and the
;;                              provider's count must survive that
(module
  (import "math" "add" (func $add (param i64 i64) (result i64)))
  (import "math" "mul" (func $mul (param i64 i64) (result i64)))
  (import "math" "calls" (func $calls (result i64)))
  (memory (export "memory") 1)
  (func $square_plus (export "square_plus") (param $x i64) (result i64)
    (call $add (call $mul (local.get $x) (local.get $x)) (local.get $x)))
  (func $math_calls (export "math_calls") (result i64)
    call $calls)
  (func $forever (export "forever")
    (loop $again
      br $again)))
