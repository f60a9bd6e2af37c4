// jezgro_irq: what Python in an interrupt cannot do by itself (docs/reliability.md, "Hangs on the
// board").
//
// break_main(): the main thread raises KeyboardInterrupt("hang watchdog") at its next bytecode
// branch or call. Called from the tick interrupt's hang check when a service step has not yielded
// for too long. micropython.schedule() callbacks run protected (their exception is printed and
// dropped), so the only door into the running code is the VM's pending exception:
// mp_sched_exception(), which is what Ctrl-C on the REPL uses. It only stores a pointer; the
// exception object is preallocated, in the root pointers so that the traceback the VM attaches when
// it raises it stays reachable for the GC. Nothing is allocated: safe in a hard IRQ with the heap
// locked. While the interrupt runs the scheduler is locked, so the exception cannot land in the
// interrupt's own Python code; mp_sched_unlock() at its end makes it pending for the main thread.
// KeyboardInterrupt because the kernel already takes it as "the break I asked for" when its
// hang_pending is set (the unix board delivers SIGINT), and a real Ctrl-C otherwise.
//
// Only on the emulated board (qemu mps2-an500: QEMU_SOC_MPS2), the interrupt the NUCLEO gets from
// TIM7: timer_start(period_us, fn) calls fn() as a hard IRQ (heap and scheduler locked, like a
// pyb.Timer callback) from the CMSDK APB TIMER0 (0x40000000, IRQ 8) every period_us; the qemu board
// layer runs the kernel's hang check from it. And watchdog_reset(sid): the IWDG's last resort, which
// on the emulator ends qemu (exit status 1) after printing which service hung.
#include "py/runtime.h"
#include "py/gc.h"
#include "py/mphal.h"
#include "py/objexcept.h"
#include "py/objstr.h"

#include <string.h>

MP_REGISTER_ROOT_POINTER(mp_obj_exception_t jezgro_hang_exc);

// The message string lives in RAM, not in a const section: reading the exception's args or printing
// it computes the string's hash lazily and stores it in the object (py/objexcept.c,
// decompress_error_text_maybe), which on a read-only .rodata (the unix ports) is a segfault and on
// the board a write into flash.
static MP_DEFINE_STR_OBJ(hang_msg_obj, "hang watchdog");
static const mp_rom_obj_tuple_t hang_args_obj = {{&mp_type_tuple}, 1, {MP_ROM_PTR(&hang_msg_obj)}};

static volatile uint32_t breaks_requested;

static mp_obj_t jezgro_irq_break_main(void) {
    mp_obj_exception_t *e = &MP_STATE_VM(jezgro_hang_exc);
    // Filled in on every call: the root pointers are not initialised by mp_init(), and a previous
    // break's traceback must not be extended by this one (as mp_sched_keyboard_interrupt does).
    e->base.type = &mp_type_KeyboardInterrupt;
    e->args = (mp_obj_tuple_t *)&hang_args_obj;
    e->traceback_alloc = 0;
    e->traceback_len = 0;
    e->traceback_data = NULL;
    breaks_requested++;
    mp_sched_exception(MP_OBJ_FROM_PTR(e));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(jezgro_irq_break_main_obj, jezgro_irq_break_main);

// True while a break has been requested and the main thread has not yet raised it.
static mp_obj_t jezgro_irq_pending(void) {
    return mp_obj_new_bool(MP_STATE_MAIN_THREAD(mp_pending_exception) == MP_OBJ_FROM_PTR(&MP_STATE_VM(jezgro_hang_exc)));
}
static MP_DEFINE_CONST_FUN_OBJ_0(jezgro_irq_pending_obj, jezgro_irq_pending);

#if defined(QEMU_SOC_MPS2)

#include "shared/runtime/semihosting_arm.h"

// CMSDK APB timer 0 of the MPS2 FPGA images (AN500: Cortex-M7), clocked at the 25 MHz system clock.
#define TIMER0_BASE     (0x40000000)
#define TIMER0_CTRL     (*(volatile uint32_t *)(TIMER0_BASE + 0x00))
#define TIMER0_VALUE    (*(volatile uint32_t *)(TIMER0_BASE + 0x04))
#define TIMER0_RELOAD   (*(volatile uint32_t *)(TIMER0_BASE + 0x08))
#define TIMER0_INTCLEAR (*(volatile uint32_t *)(TIMER0_BASE + 0x0c))
#define TIMER_CTRL_EN   (1 << 0)
#define TIMER_CTRL_IRQEN (1 << 3)
#define TIMER0_IRQN     (8)
#define TIMER_HZ        (25000000)
#define SCB_VTOR        (*(volatile uint32_t *)0xe000ed08)
#define SCB_ICSR        (*(volatile uint32_t *)0xe000ed04)
#define NVIC_ISER0      (*(volatile uint32_t *)0xe000e100)
#define NVIC_ICER0      (*(volatile uint32_t *)0xe000e180)
#define NVIC_ICPR0      (*(volatile uint32_t *)0xe000e280)
#define NVIC_IPR        ((volatile uint8_t *)0xe000e400)
#define N_SYSTEM        (16)
#define N_EXTERNAL      (32)
// below SysTick (the port's 1 ms clock runs at priority 0), like TIM7 (13) below the port's own IRQs
#define TIMER_PRIORITY  (0x80)

// The timer's state. In the root pointers (GC-reachable) and with a finaliser: a soft reset sweeps
// the heap (gc_sweep_all runs finalisers) and must stop the interrupt before the callback is freed.
typedef struct _jezgro_timer_obj_t {
    mp_obj_base_t base;
    mp_obj_t callback;
} jezgro_timer_obj_t;

MP_REGISTER_ROOT_POINTER(struct _jezgro_timer_obj_t *jezgro_irq_timer);

static uint32_t vectors[N_SYSTEM + N_EXTERNAL] __attribute__((aligned(256)));
static volatile uint32_t irq_count;
static volatile uint32_t irq_errors;

static void timer_disable(void) {
    TIMER0_CTRL = 0;
    NVIC_ICER0 = 1 << TIMER0_IRQN;
    TIMER0_INTCLEAR = 1;
    NVIC_ICPR0 = 1 << TIMER0_IRQN;
}

static void unexpected_irq(void) {
    // An external interrupt nobody asked for: switch it off rather than loop in it.
    uint32_t n = (SCB_ICSR & 0x1ff) - N_SYSTEM;
    if (n < 32) {
        NVIC_ICER0 = 1u << n;
    }
}

static void timer0_irq(void) {
    TIMER0_INTCLEAR = 1;
    irq_count++;
    jezgro_timer_obj_t *t = MP_STATE_VM(jezgro_irq_timer);
    if (t == NULL) {
        return;
    }
    // As a hard pyb.Timer / machine IRQ callback (shared/runtime/mpirq.c): no allocation, no
    // scheduled callbacks, an escaping exception switches the timer off (and is counted).
    mp_sched_lock();
    gc_lock();
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_call_function_0(t->callback);
        nlr_pop();
    } else {
        timer_disable();
        MP_STATE_VM(jezgro_irq_timer) = NULL;
        irq_errors++;
        mp_printf(MICROPY_ERROR_PRINTER, "jezgro_irq: uncaught exception in the timer callback, timer stopped\n");
        mp_obj_print_exception(MICROPY_ERROR_PRINTER, MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    gc_unlock();
    mp_sched_unlock();
}

static void install_vectors(void) {
    // The qemu port's table (at VTOR, in flash-like RAM at 0) has the 16 system exceptions only.
    uint32_t *old = (uint32_t *)SCB_VTOR;
    if (old == vectors) {
        return;
    }
    for (int i = 0; i < N_SYSTEM; i++) {
        vectors[i] = old[i];
    }
    for (int i = N_SYSTEM; i < N_SYSTEM + N_EXTERNAL; i++) {
        vectors[i] = (uint32_t)&unexpected_irq;
    }
    vectors[N_SYSTEM + TIMER0_IRQN] = (uint32_t)&timer0_irq;
    __asm volatile ("dsb");
    SCB_VTOR = (uint32_t)vectors;
    __asm volatile ("dsb\n isb");
}

static mp_obj_t jezgro_timer_del(mp_obj_t self_in) {
    if (MP_STATE_VM(jezgro_irq_timer) == MP_OBJ_TO_PTR(self_in)) {
        timer_disable();
        MP_STATE_VM(jezgro_irq_timer) = NULL;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(jezgro_timer_del_obj, jezgro_timer_del);

static const mp_rom_map_elem_t jezgro_timer_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___del__), MP_ROM_PTR(&jezgro_timer_del_obj) },
};
static MP_DEFINE_CONST_DICT(jezgro_timer_locals, jezgro_timer_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(jezgro_timer_type, MP_QSTR_Timer, MP_TYPE_FLAG_NONE,
    locals_dict, &jezgro_timer_locals);

// timer_start(period_us, fn): fn() every period_us (10 us .. 1 s) from TIMER0's interrupt.
static mp_obj_t jezgro_irq_timer_start(mp_obj_t period_in, mp_obj_t callback) {
    mp_int_t us = mp_obj_get_int(period_in);
    if (us < 10 || us > 1000000) {
        mp_raise_ValueError(MP_ERROR_TEXT("period_us must be 10..1000000"));
    }
    if (!mp_obj_is_callable(callback)) {
        mp_raise_TypeError(MP_ERROR_TEXT("callback must be callable"));
    }
    timer_disable();
    jezgro_timer_obj_t *t = mp_obj_malloc_with_finaliser(jezgro_timer_obj_t, &jezgro_timer_type);
    t->callback = callback;
    MP_STATE_VM(jezgro_irq_timer) = t;
    install_vectors();
    TIMER0_RELOAD = (uint32_t)us * (TIMER_HZ / 1000000) - 1;
    TIMER0_VALUE = TIMER0_RELOAD;
    NVIC_IPR[TIMER0_IRQN] = TIMER_PRIORITY;
    NVIC_ISER0 = 1 << TIMER0_IRQN;
    TIMER0_CTRL = TIMER_CTRL_EN | TIMER_CTRL_IRQEN;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(jezgro_irq_timer_start_obj, jezgro_irq_timer_start);

static mp_obj_t jezgro_irq_timer_stop(void) {
    timer_disable();
    MP_STATE_VM(jezgro_irq_timer) = NULL;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(jezgro_irq_timer_stop_obj, jezgro_irq_timer_stop);

// clock(): a free-running count of the 25 MHz APB clock (CMSDK TIMER1, 0x40001000, no interrupt),
// 30 bits (a small int: allocation-free in an interrupt; wraps every 42.9 s). The port's ticks_us()
// is not fine enough for a break's latency, and can step by 1 ms (it reads the SysTick count and the
// millisecond counter non-atomically). Under qemu -icount shift=0 one count is 40 instructions.
#define TIMER1_BASE     (0x40001000)
#define TIMER1_CTRL     (*(volatile uint32_t *)(TIMER1_BASE + 0x00))
#define TIMER1_VALUE    (*(volatile uint32_t *)(TIMER1_BASE + 0x04))
#define TIMER1_RELOAD   (*(volatile uint32_t *)(TIMER1_BASE + 0x08))

static mp_obj_t jezgro_irq_clock(void) {
    if (!(TIMER1_CTRL & TIMER_CTRL_EN)) {
        TIMER1_RELOAD = 0xffffffff;
        TIMER1_VALUE = 0xffffffff;
        TIMER1_CTRL = TIMER_CTRL_EN;
    }
    return MP_OBJ_NEW_SMALL_INT((0xffffffff - TIMER1_VALUE) & 0x3fffffff);
}
static MP_DEFINE_CONST_FUN_OBJ_0(jezgro_irq_clock_obj, jezgro_irq_clock);

// (interrupts taken, callbacks that raised, breaks requested); for tests, from the main thread
static mp_obj_t jezgro_irq_stats(void) {
    mp_obj_t items[3] = {
        MP_OBJ_NEW_SMALL_INT(irq_count & 0x3fffffff),
        MP_OBJ_NEW_SMALL_INT(irq_errors & 0x3fffffff),
        MP_OBJ_NEW_SMALL_INT(breaks_requested & 0x3fffffff),
    };
    return mp_obj_new_tuple(3, items);
}
static MP_DEFINE_CONST_FUN_OBJ_0(jezgro_irq_stats_obj, jezgro_irq_stats);

// The emulated IWDG firing: the board would reset; the emulator stops (qemu exits with status 1).
// The line goes to the guest's UART and, by semihosting, to qemu's own stdout, which the host reads
// after qemu has exited (the UART's pty may lose what was not read before it closed). Called in the
// interrupt: no allocation, the number is formatted by hand.
static mp_obj_t jezgro_irq_watchdog_reset(mp_obj_t sid_in) {
    timer_disable();
    static char line[64] = "\r\njezgro_irq: watchdog reset: service ";
    size_t n = strlen(line);
    mp_int_t sid = mp_obj_get_int(sid_in);
    if (sid < 0 || sid > 999) {
        sid = 999;
    }
    char digits[4];
    int k = 0;
    do {
        digits[k++] = '0' + sid % 10;
        sid /= 10;
    } while (sid > 0);
    while (k > 0) {
        line[n++] = digits[--k];
    }
    static const char tail[] = " hung, break not taken\r\n";
    memcpy(line + n, tail, sizeof(tail));
    n += sizeof(tail) - 1;
    mp_hal_stdout_tx_strn(line, n);
    mp_semihosting_tx_strn(line, n);
    mp_semihosting_exit(1);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(jezgro_irq_watchdog_reset_obj, jezgro_irq_watchdog_reset);

#endif // QEMU_SOC_MPS2

static const mp_rom_map_elem_t jezgro_irq_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_jezgro_irq) },
    { MP_ROM_QSTR(MP_QSTR_break_main), MP_ROM_PTR(&jezgro_irq_break_main_obj) },
    { MP_ROM_QSTR(MP_QSTR_pending), MP_ROM_PTR(&jezgro_irq_pending_obj) },
    #if defined(QEMU_SOC_MPS2)
    { MP_ROM_QSTR(MP_QSTR_timer_start), MP_ROM_PTR(&jezgro_irq_timer_start_obj) },
    { MP_ROM_QSTR(MP_QSTR_timer_stop), MP_ROM_PTR(&jezgro_irq_timer_stop_obj) },
    { MP_ROM_QSTR(MP_QSTR_stats), MP_ROM_PTR(&jezgro_irq_stats_obj) },
    { MP_ROM_QSTR(MP_QSTR_clock), MP_ROM_PTR(&jezgro_irq_clock_obj) },
    { MP_ROM_QSTR(MP_QSTR_CLOCK_HZ), MP_ROM_INT(TIMER_HZ) },
    { MP_ROM_QSTR(MP_QSTR_watchdog_reset), MP_ROM_PTR(&jezgro_irq_watchdog_reset_obj) },
    #endif
};
static MP_DEFINE_CONST_DICT(jezgro_irq_globals, jezgro_irq_globals_table);

const mp_obj_module_t jezgro_irq_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&jezgro_irq_globals,
};

MP_REGISTER_MODULE(MP_QSTR_jezgro_irq, jezgro_irq_module);
