/* The C reference of the CRITICAL tick (bench/grid_ref.c's pll_step + cc_step: PLL, current loop,
 * SVPWM, int32 line for line with the viper code) as a bare-metal Cortex-M7 program for the same
 * emulated core the firmware runs on (qemu mps2-an500, fpv5-d16, `-icount shift=0`), built and run
 * by bench/m7_bench.py. It replays the same recorded ADC rows (rows.h, generated) and counts guest
 * instructions with SysTick on the processor clock: with -icount shift=0 one guest instruction is
 * 1 ns of virtual time and SysTick counts 25 MHz of it, i.e. one count per 40 instructions, the
 * same clock MicroPython's ticks_us() reads there (1 us = 1 000 instructions).
 * Output (semihosting): "M7REF <ticks> <instructions> <theta> <pwm a> <pwm b> <pwm c>". */
#define GRID_REF_LIBRARY
#include "../grid_ref.c"
#include "rows.h" /* static const uint16_t ROWS[NROWS][ADC_ROW]; ENABLE_AT, ID_REF_Q, IQ_REF_Q */

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
#define CPACR (*(volatile uint32_t *)0xE000ED88)
#define INSN_PER_COUNT 40u /* 1 GHz of instructions / 25 MHz SysTick */

static int32_t adc_in[ADC_ROW];

static void semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile ("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

static char *put_int(char *p, long long v) {
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? (unsigned long long)(-v) : (unsigned long long)v;
    do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *p++ = '-';
    while (n) *p++ = tmp[--n];
    *p++ = ' ';
    return p;
}

int main(void) {
    for (int i = 0; i <= 256; i++) tab[i] = (uint16_t)(32768 + (int)lround(32767 * sin(2 * M_PI * i / 256)));
    reset();
    SYST_RVR = 0x00FFFFFF;
    SYST_CVR = 0;
    SYST_CSR = 5; /* enabled, processor clock, no interrupt */
    unsigned long long counts = 0;
    for (int i = 0; i < NROWS; i++) {
        for (int j = 0; j < ADC_ROW; j++) adc_in[j] = ROWS[i][j];
        if (i == ENABLE_AT) { cc[ENABLE] = 1; cc[ID_REF] = ID_REF_Q; cc[IQ_REF] = IQ_REF_Q; }
        uint32_t t0 = SYST_CVR;
        pll_step(adc_in);
        cc_step(adc_in);
        en_step(adc_in);
        uint32_t t1 = SYST_CVR;
        counts += (t0 - t1) & 0x00FFFFFF; /* down-counter */
    }
    static char line[160] = "M7REF ";
    char *p = line + 6;
    p = put_int(p, NROWS);
    p = put_int(p, (long long)(counts * INSN_PER_COUNT));
    p = put_int(p, (uint32_t)st[THETA]);
    p = put_int(p, pwm[0]);
    p = put_int(p, pwm[1]);
    p = put_int(p, pwm[2]);
    p[-1] = '\n';
    *p = 0;
    semihost(0x04, line); /* SYS_WRITE0 */
    static const uint32_t exit_block[2] = {0x20026, 0}; /* ADP_Stopped_ApplicationExit */
    semihost(0x18, exit_block); /* SYS_EXIT */
    for (;;) {}
}

/* Reset: FPU on (CP10/CP11 full access), then main(). .data is loaded in place by qemu (-kernel ELF)
 * and RAM starts zeroed, so there is nothing to copy. */
extern uint32_t _estack;
void Reset_Handler(void) {
    CPACR |= 0xFu << 20;
    __asm__ volatile ("dsb\n isb");
    main();
}
void Default_Handler(void) { for (;;) {} }
__attribute__((section(".isr_vector"), used)) const void *const vectors[16] = {
    &_estack, (void *)Reset_Handler, (void *)Default_Handler, (void *)Default_Handler,
    (void *)Default_Handler, (void *)Default_Handler, (void *)Default_Handler,
};
