;; motion — reads a phone's sensors through the `sensors` host capability, which a
;; browser peer offers once its motion and orientation sensors have given a reading.
;;   acceleration_magnitude() -> f64   |a| in m/s², gravity included (≈ 9.81 at rest)
;;   heading() -> f64                  compass heading: orientation alpha, degrees
(module
  (import "sensors" "acceleration" (func $acceleration (param i32) (result f64)))
  (import "sensors" "orientation" (func $orientation (param i32) (result f64)))
  (memory (export "memory") 1)
  (func (export "acceleration_magnitude") (result f64)
    (local $x f64) (local $y f64) (local $z f64)
    (local.set $x (call $acceleration (i32.const 0)))
    (local.set $y (call $acceleration (i32.const 1)))
    (local.set $z (call $acceleration (i32.const 2)))
    (f64.sqrt (f64.add (f64.mul (local.get $x) (local.get $x))
      (f64.add (f64.mul (local.get $y) (local.get $y)) (f64.mul (local.get $z) (local.get $z))))))
  (func (export "heading") (result f64)
    (call $orientation (i32.const 0))))
