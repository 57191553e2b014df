;; network.ping, the Rust WasmIoT supervisor's host function: ping(a, b, c, d) asks the
;; host for the round trip in milliseconds to the IPv4 address a.b.c.d (−1 when nothing
;; answers) and returns it as the host gave it.
(module
  (import "network" "ping" (func $ping (param i32 i32 i32 i32) (result f32)))
  (memory (export "memory") 1)
  (func (export "ping") (param $a i32) (param $b i32) (param $c i32) (param $d i32) (result f32)
    (call $ping (local.get $a) (local.get $b) (local.get $c) (local.get $d)))
  ;; 1 when a.b.c.d answers, else 0.
  (func (export "reachable") (param $a i32) (param $b i32) (param $c i32) (param $d i32) (result i32)
    (f32.ge (call $ping (local.get $a) (local.get $b) (local.get $c) (local.get $d)) (f32.const 0))))
