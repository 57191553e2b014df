;; dispatch — state in a function table.  Slot 0 of the table holds the handler that
;; `handle` calls; `swap` exchanges slots 0 and 1 with table.get / table.set.  After an
;; odd number of swaps `handle` answers 2 instead of 1: a snapshot must carry the
;; table's changed slots, not just memory and globals.
(module
  (type $handler (func (result i32)))
  (table $handlers 2 funcref)
  (elem (i32.const 0) $one $two)
  (func $one (type $handler) (i32.const 1))
  (func $two (type $handler) (i32.const 2))
  (func (export "handle") (result i32)
    (call_indirect (type $handler) (i32.const 0)))
  (func (export "swap") (result i32)
    (local $first funcref)
    (local.set $first (table.get $handlers (i32.const 0)))
    (table.set $handlers (i32.const 0) (table.get $handlers (i32.const 1)))
    (table.set $handlers (i32.const 1) (local.get $first))
    (call_indirect (type $handler) (i32.const 0))))
