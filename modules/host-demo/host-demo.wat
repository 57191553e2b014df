;; host-demo — exercises the non-WASI host imports a WasmIoT device may grant.
;;   greet()               prints "hello" (sys.print), "hello\n" (sys.println), "42" (sys.printInt)
;;   temperature() -> f32  dht.getTemperature, answered by the host thread through the bridge
;;   humidity() -> f32     dht.getHumidity
;;   elapsed(ms) -> i32    sys.millis before and after sys.delay(ms): at least ms
;;   alert()               communication.rpcCall("demo/counter/stateful_fibo", "[]"): runs
;;                         stateful_fibo of module counter in deployment demo, wherever it runs
;;   forever()             never returns: a call the host must stop, after calls that reached it
(module
  (import "sys" "millis" (func $millis (result i32)))
  (import "sys" "delay" (func $delay (param i32)))
  (import "sys" "print" (func $print (param i32 i32)))
  (import "sys" "println" (func $println (param i32 i32)))
  (import "sys" "printInt" (func $printInt (param i32)))
  (import "dht" "getTemperature" (func $temperature (result f32)))
  (import "dht" "getHumidity" (func $humidity (result f32)))
  (import "communication" "rpcCall" (func $rpcCall (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (data (i32.const 8) "demo/counter/stateful_fibo")
  (data (i32.const 40) "[]")
  (func (export "greet")
    (call $print (i32.const 0) (i32.const 5))
    (call $println (i32.const 0) (i32.const 5))
    (call $printInt (i32.const 42)))
  (func (export "temperature") (result f32)
    (call $temperature))
  (func (export "humidity") (result f32)
    (call $humidity))
  (func (export "elapsed") (param $ms i32) (result i32)
    (local $start i32)
    (local.set $start (call $millis))
    (call $delay (local.get $ms))
    (i32.sub (call $millis) (local.get $start)))
  (func (export "alert")
    (call $rpcCall (i32.const 8) (i32.const 26) (i32.const 40) (i32.const 2)))
  (func (export "forever")
    (loop $again
      br $again)))
