/* C reference of the CRITICAL grid tick (firmware/grid/pll.py step + firmware/grid/curctl.py + firmware/grid/energy.py
 * step), line for line in int32 arithmetic, built by bench/grid_bench.py with gcc -O2 at run
 * time. Reads recorded ADC samples, runs the ticks, compares theta and the PWM duties with the
 * viper outputs recorded alongside (same algorithm => identical numbers), and times the ticks.
 *   grid_ref IN.bin N_REPEAT  -> prints "ns_per_tick mismatches ticks"
 * IN.bin: int32 records of 7 ADC counts + 4 viper outputs (theta, duty a, b, c) per tick. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

static int32_t fdiv(int32_t a, int32_t b) { int32_t q = a / b; if ((a % b != 0) && ((a < 0) != (b < 0))) q--; return q; }

enum { THETA, THETA_HAT, OMEGA, INTEG, V1A, Q1A, V1B, Q1B, VD, VQ, VMAG, WTS, MAF_SUM, MAF_I, OMEGA_F, EN,
       LOCKED, LOCK_CNT, COAST_CNT, TICKS, DTHETA, VD_INST, VQ_INST, OMEGA_L, XPA, XPB, NST = 26 };
enum { ID_REF, IQ_REF, ID, IQ, INT_D, INT_Q, VD_REF, VQ_REF, VLIM, ENABLE, TRIP, SAT, VDC, CTICKS, SAFE, NCC = 16 };
#define MAF_N 200
#define PRED_MAX_Q6 32767
#define SOGI_D_MAX 262143
#define SOGI_E_MAX 0x7FFFFFF
#define SOGI_X_MAX 46000000
#define WLP_SH 7
#define OMEGA_NOM 20588742
#define OMEGA_MIN 16470993
#define OMEGA_MAX 24706490
#define K_SOGI_Q12 5793
#define KP_Q6 40212
#define KI_Q12 20212
#define DTHETA_FRAC_Q20 45128
#define DELAY_COMP_Q3 10
#define VMIN_Q8 1665
#define LOCK_TICKS 1000
#define COAST_MAX_TICKS 5000
#define KP_Q12 6144
#define KITS_Q12 31457
#define VLIM_Q15 17027
#define E_MAX 16384

static inline int32_t clamp(int32_t x, int32_t m) { return x > m ? m : (x < -m ? -m : x); }
static int32_t scaled_state(int32_t v, int32_t k) {
    int32_t a = v >> 12, m = a >= 0 ? a : -a;
    if (k <= 0) return 0;
    if (m > SOGI_X_MAX / k) return a >= 0 ? SOGI_X_MAX : -SOGI_X_MAX;
    return a * k;
}
enum { E_SUB, E_WIN_J, E_WIN_N, E_IMP_J, E_EXP_J, E_TICKS, NEN };
#define UNITS_PER_J 1280000
#define E_WINDOW 200
static int32_t st[NST], maf[MAF_N], cc[NCC], pwm[4], sh[6], en[NEN];
static uint16_t tab[257];

static inline int32_t sinq(uint32_t th, int cosine) {
    int i = (th >> 24) & 255; int32_t fr = (th >> 8) & 0xFFFF;
    if (cosine) i = (i + 64) & 255;
    int32_t s0 = (int32_t)tab[i] - 32768;
    return s0 + ((((int32_t)tab[i + 1] - 32768 - s0) * fr) >> 16);
}

static void pll_step(const int32_t *adc) {
    int32_t va = adc[0] - 2048, vb = adc[1] - 2048, vc = adc[2] - 2048;
    int32_t xa = ((2 * va - vb - vc) * 21845) >> 2, xb = ((vb - vc) * 18919) >> 1;
    int32_t wts = st[WTS];
    int32_t v1 = st[V1A], q1 = st[Q1A];
    int32_t e = ((K_SOGI_Q12 * clamp((xa - v1) >> 8, SOGI_D_MAX)) >> 4) - q1;
    e = clamp(e, SOGI_E_MAX);
    v1 = clamp(v1 + ((wts * (e >> 12)) >> 8), SOGI_X_MAX); q1 = clamp(q1 + ((wts * (v1 >> 12)) >> 8), SOGI_X_MAX);
    st[V1A] = v1; st[Q1A] = q1; int32_t v1a = v1, q1a = q1;
    v1 = st[V1B]; q1 = st[Q1B];
    e = clamp(((K_SOGI_Q12 * clamp((xb - v1) >> 8, SOGI_D_MAX)) >> 4) - q1, SOGI_E_MAX);
    v1 = clamp(v1 + ((wts * (e >> 12)) >> 8), SOGI_X_MAX); q1 = clamp(q1 + ((wts * (v1 >> 12)) >> 8), SOGI_X_MAX);
    st[V1B] = v1; st[Q1B] = q1;
    int32_t pa = (v1a - q1) >> 11, pb = (q1a + v1) >> 11;
    uint32_t th = (uint32_t)st[THETA_HAT];
    int32_t s = sinq(th, 0), c = sinq(th, 1);
    int32_t vd = (pa * c + pb * s) >> 13, vq = (pb * c - pa * s) >> 13;
    st[VD] = vd; st[VQ] = vq;
    int32_t ad = vd >= 0 ? vd : -vd, aq = vq >= 0 ? vq : -vq;
    int32_t mag = ad >= aq ? (ad * 15 + aq * 6) >> 4 : (aq * 15 + ad * 6) >> 4;
    st[VMAG] = mag;
    int32_t integ = st[INTEG], locked = st[LOCKED], cnt = st[LOCK_CNT], en;
    int32_t ax = xa >= 0 ? xa : -xa, bx = xb >= 0 ? xb : -xb;
    int32_t mx = ax >= bx ? (ax * 15 + bx * 6) >> 12 : (bx * 15 + ax * 6) >> 12;
    int trust = 1;
    if (mag >= VMIN_Q8 && (mx * 3 < mag || mag * 3 < mx)) {
        trust = 0; int32_t k = fdiv(mx << 12, mag);
        st[V1A] = scaled_state(v1a, k); st[Q1A] = scaled_state(q1a, k); st[V1B] = scaled_state(v1, k); st[Q1B] = scaled_state(q1, k);
    }
    if (trust && mag >= VMIN_Q8 && mx >= VMIN_Q8) {
        en = fdiv(vq << 12, mag >> 3);
        if (en > 32767) en = 32767;
        if (en < -32767) en = -32767;
        integ += (en * KI_Q12) >> 12;
        st[COAST_CNT] = 0;
        if (vd > 0 && aq * 20 < vd) {
            if (locked) cnt = 0; else if (cnt < LOCK_TICKS) { cnt++; if (cnt >= LOCK_TICKS) { locked = 1; cnt = 0; } }
        } else {
            if (!locked) cnt = 0; else if (cnt < LOCK_TICKS) { cnt++; if (cnt >= LOCK_TICKS) { locked = 0; cnt = 0; } }
        }
    } else {
        en = 0; int32_t co = st[COAST_CNT] + 1; st[COAST_CNT] = co;
        if (co >= COAST_MAX_TICKS) { locked = 0; cnt = 0; }
    }
    st[EN] = en; st[LOCKED] = locked; st[LOCK_CNT] = cnt;
    if (integ < OMEGA_MIN - OMEGA_NOM) integ = OMEGA_MIN - OMEGA_NOM;
    if (integ > OMEGA_MAX - OMEGA_NOM) integ = OMEGA_MAX - OMEGA_NOM;
    st[INTEG] = integ;
    int32_t w = OMEGA_NOM + integ + ((en * KP_Q6) >> 6);
    if (w < OMEGA_MIN) w = OMEGA_MIN;
    if (w > OMEGA_MAX) w = OMEGA_MAX;
    st[OMEGA] = w;
    int32_t k = st[MAF_I], old = maf[k], dw = w - OMEGA_NOM;
    maf[k] = dw; k++; if (k >= MAF_N) k = 0; st[MAF_I] = k;
    int32_t msum = st[MAF_SUM] + dw - old; st[MAF_SUM] = msum;
    int32_t wf = OMEGA_NOM + fdiv(msum, MAF_N); st[OMEGA_F] = wf;
    int32_t wl = st[OMEGA_L]; wl += (w - wl) >> WLP_SH; st[OMEGA_L] = wl;
    st[WTS] = ((wl >> 9) * 26844) >> 15;
    int32_t dth = w + (((w >> 10) * DTHETA_FRAC_Q20) >> 10);
    int32_t dthf = wf + (((wf >> 10) * DTHETA_FRAC_Q20) >> 10);
    st[DTHETA] = dthf;
    uint32_t theta = th - (uint32_t)((dthf * DELAY_COMP_Q3) >> 3);
    st[THETA] = (int32_t)theta; st[THETA_HAT] = (int32_t)(th + (uint32_t)dth);
    s = sinq(theta, 0); c = sinq(theta, 1);
    int32_t pxa = st[XPA], pxb = st[XPB];
    st[XPA] = xa; st[XPB] = xb;
    int32_t fa = (xa + (((xa - pxa) * 3) >> 1)) >> 10, fb = (xb + (((xb - pxb) * 3) >> 1)) >> 10;
    if (fa > PRED_MAX_Q6) fa = PRED_MAX_Q6;
    if (fa < -PRED_MAX_Q6) fa = -PRED_MAX_Q6;
    if (fb > PRED_MAX_Q6) fb = PRED_MAX_Q6;
    if (fb < -PRED_MAX_Q6) fb = -PRED_MAX_Q6;
    uint32_t tha = theta + (uint32_t)dthf + (uint32_t)(dthf >> 1);
    s = sinq(tha, 0); c = sinq(tha, 1);
    st[VD_INST] = (fa * c + fb * s) >> 13; st[VQ_INST] = (fb * c - fa * s) >> 13;
    st[TICKS]++;
    int32_t seq = (sh[0] + 1) & 0x3FFFFFFF; sh[0] = seq;
    sh[1] = (int32_t)theta; sh[2] = wf; sh[3] = vd; sh[4] = vq; sh[5] = locked; sh[0] = (seq + 1) & 0x3FFFFFFF;
}

static void cc_step(const int32_t *adc) {
    int32_t ia = (adc[3] - 2048) << 3, ib = (adc[4] - 2048) << 3, ic = (adc[5] - 2048) << 3;
    int32_t xa = ((2 * ia - ib - ic) * 21845) >> 16, xb = ((ib - ic) * 18919) >> 15;
    uint32_t th = (uint32_t)st[THETA];
    int32_t s = sinq(th, 0), c = sinq(th, 1);
    int32_t idm = (xa * c + xb * s) >> 15, iqm = (xb * c - xa * s) >> 15;
    cc[ID] = idm; cc[IQ] = iqm;
    int32_t vdc = adc[6] << 2; cc[VDC] = vdc; cc[CTICKS]++;
    if (cc[ENABLE] == 0 || cc[TRIP] || cc[SAFE] || vdc < 1600) {
        cc[INT_D] = cc[INT_Q] = cc[SAT] = 0; pwm[3] = 0; pwm[0] = pwm[1] = pwm[2] = 16384; return;
    }
    int32_t ed = cc[ID_REF] - idm, eq = cc[IQ_REF] - iqm;
    if (ed > E_MAX) ed = E_MAX; if (ed < -E_MAX) ed = -E_MAX;
    if (eq > E_MAX) eq = E_MAX; if (eq < -E_MAX) eq = -E_MAX;
    int32_t intd = cc[INT_D], intq = cc[INT_Q], w = st[OMEGA_F];
    int32_t wl = ((w >> 11) * 1049) >> 10, fd = st[VD_INST], fq = st[VQ_INST];
    int32_t vd = ((ed * KP_Q12) >> 16) + (intd >> 12) + (fd >> 4) - ((wl * (iqm >> 4)) >> 16);
    int32_t vq = ((eq * KP_Q12) >> 16) + (intq >> 12) + (fq >> 4) + ((wl * (idm >> 4)) >> 16);
    int32_t lim = (vdc * VLIM_Q15) >> 15; cc[VLIM] = lim;
    int32_t ad = vd >= 0 ? vd : -vd, aq = vq >= 0 ? vq : -vq;
    int32_t mag = ad >= aq ? (ad * 15 + aq * 6) >> 4 : (aq * 15 + ad * 6) >> 4;
    int sat = 0;
    if (mag > lim) { sat = 1; int32_t k = fdiv(lim << 14, mag); vd = (vd * k) >> 14; vq = (vq * k) >> 14; }
    if (!sat || (ed ^ intd) < 0) intd += (ed * KITS_Q12) >> 12;
    if (!sat || (eq ^ intq) < 0) intq += (eq * KITS_Q12) >> 12;
    cc[INT_D] = intd; cc[INT_Q] = intq; cc[SAT] = sat; cc[VD_REF] = vd; cc[VQ_REF] = vq;
    int32_t dth = st[DTHETA];
    th = th + (uint32_t)dth + (uint32_t)(dth >> 1);
    s = sinq(th, 0); c = sinq(th, 1);
    int32_t va = (vd * c - vq * s) >> 15, vb = (vd * s + vq * c) >> 15;
    int32_t pa = va, pb = (-va + ((vb * 56756) >> 15)) >> 1, pc = (-va - ((vb * 56756) >> 15)) >> 1;
    int32_t mx = pa; if (pb > mx) mx = pb; if (pc > mx) mx = pc;
    int32_t mn = pa; if (pb < mn) mn = pb; if (pc < mn) mn = pc;
    int32_t cm = (mx + mn) >> 1, inv = fdiv(1 << 29, vdc) << 1;
    int32_t d[3] = {pa, pb, pc};
    for (int j = 0; j < 3; j++) {
        int32_t x = 16384 + (((d[j] - cm) * inv) >> 15);
        pwm[j] = x < 0 ? 0 : (x > 32767 ? 32767 : x);
    }
    pwm[3] = 1;
}

/* firmware/grid/energy.py step: the tick's energy meter (CURRENT_CTRL calls it after cc_step) */
static void en_step(const int32_t *adc) {
    int32_t p = (adc[0] - 2048) * (adc[3] - 2048) + (adc[1] - 2048) * (adc[4] - 2048) + (adc[2] - 2048) * (adc[5] - 2048);
    int32_t s = en[E_SUB] + p, w = en[E_WIN_J];
    if (s >= UNITS_PER_J) { int32_t j = s / UNITS_PER_J; s -= j * UNITS_PER_J; w += j; }
    else if (s <= -UNITS_PER_J) { int32_t j = -s / UNITS_PER_J; s += j * UNITS_PER_J; w -= j; }
    en[E_SUB] = s;
    int32_t n = en[E_WIN_N] + 1;
    if (n >= E_WINDOW) {
        n = 0;
        if (w > 0) en[E_EXP_J] = (en[E_EXP_J] + w) & 0x3FFFFFFF;
        else if (w < 0) en[E_IMP_J] = (en[E_IMP_J] - w) & 0x3FFFFFFF;
        w = 0;
    }
    en[E_WIN_N] = n; en[E_WIN_J] = w; en[E_TICKS] = (en[E_TICKS] + 1) & 0x3FFFFFFF;
}

static void reset(void) {
    memset(en, 0, sizeof en);
    memset(st, 0, sizeof st); memset(maf, 0, sizeof maf); memset(cc, 0, sizeof cc); memset(sh, 0, sizeof sh);
    st[WTS] = 32941; st[OMEGA] = OMEGA_NOM; st[OMEGA_F] = OMEGA_NOM; st[OMEGA_L] = OMEGA_NOM; st[DTHETA] = 21474836;
}

#ifndef GRID_REF_LIBRARY  /* bench/m7/tick_ref.c includes the steps without this host main() */
int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: grid_ref IN.bin N_REPEAT ENABLE_AT\n"); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    fseek(f, 0, SEEK_END); long sz = ftell(f); fseek(f, 0, SEEK_SET);
    int n = (int)(sz / (4 * 14));
    int32_t *rec = malloc(sz);
    if (fread(rec, 1, sz, f) != (size_t)sz) return 2;
    fclose(f);
    int repeat = atoi(argv[2]), enable_at = atoi(argv[3]);
    for (int i = 0; i <= 256; i++) tab[i] = (uint16_t)(32768 + (int)lround(32767 * sin(2 * M_PI * i / 256)));
    long mismatches = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < repeat; r++) {
        reset();
        for (int i = 0; i < n; i++) {
            const int32_t *x = rec + 14 * i;
            if (i == enable_at) { cc[ENABLE] = 1; cc[ID_REF] = x[11]; cc[IQ_REF] = x[12]; }
            pll_step(x);
            cc_step(x);
            en_step(x);
            if (r == 0 && ((uint32_t)st[THETA] != (uint32_t)x[7] || pwm[0] != x[8] || pwm[1] != x[9] || pwm[2] != x[10]
                           || cc[ID] != x[13])) mismatches++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / ((double)n * repeat);
    printf("%.1f %ld %d\n", ns, mismatches, n);
    /* the energy counters after the last repeat, for test_grid_c_reference.py against grid/energy.py */
    fprintf(stderr, "energy %d %d %d %d %d %d\n", en[E_SUB], en[E_WIN_J], en[E_WIN_N], en[E_IMP_J], en[E_EXP_J], en[E_TICKS]);
    return 0;
}
#endif
