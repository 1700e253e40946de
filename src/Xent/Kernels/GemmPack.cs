using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Xent.Kernels;

/// <summary>Packing for <see cref="Gemm"/>: copies a block of an operand, in whatever layout it is stored, into the
/// micro-panel order the kernels read sequentially, widening Half and BFloat16 to float on the way. Transposed
/// operands are handled here and only here — no whole matrix is ever transposed.</summary>
/// <remarks>Panels past the matrix edge are zero-filled, so a partial tile computes exact zeros there and the kernels
/// need no edge cases inside the k loop.</remarks>
internal static unsafe class GemmPack
{
    /// <summary>Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] into ⌈mc/mr⌉ panels of kc × mr floats: panel q holds, for each p,
    /// the mr values op(A)[i0 + q·mr + ·, p0 + p]. op(A)(i, p) is <c>a[i·lda + p]</c>, or <c>a[p·lda + i]</c> when
    /// <paramref name="transposed"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void A(float* a, nint lda, bool transposed, int i0, int mc, int p0, int kc, int mr, float* dst)
    {
        if (transposed)
        {
            // Each p holds every panel's rows contiguously: read the row of A once, front to back, and deal it out
            // to the panels (reading panel by panel instead walks k rows of A per panel, a TLB miss each).
            float* src = a + (nint)p0 * lda + i0;
            for (int p = 0; p < kc; p++, src += lda)
            {
                for (int ip = 0; ip < mc; ip += mr)
                {
                    int rows = Math.Min(mr, mc - ip);
                    float* d = dst + (nint)ip * kc + (nint)p * mr;
                    float* s = src + ip;
                    if (rows == 12 && mr == 12)
                    {
                        Vector256.Store(Vector256.Load(s), d);
                        Vector128.Store(Vector128.Load(s + 8), d + 8);
                        continue;
                    }

                    int i = 0;
                    for (; i < rows; i++) d[i] = s[i];
                    for (; i < mr; i++) d[i] = 0f;
                }
            }

            return;
        }

        for (int ip = 0; ip < mc; ip += mr)
        {
            int rows = Math.Min(mr, mc - ip);
            float* panel = dst + (nint)ip * kc;
            float* src = a + (nint)(i0 + ip) * lda + p0;
            int p = 0;
            if (rows == 12 && mr == 12 && Avx512F.IsSupported)
            {
                // Twelve rows, contiguous in p: 16 × 16 transposes (four zero rows) stored 12 lanes wide.
                for (; p + 16 <= kc; p += 16)
                {
                    Transpose16x16(src + p, lda, 12, panel + (nint)p * 12, 12);
                }
            }

            // Each row is contiguous in p: read it once, write it with stride mr (the panel stays in L1).
            for (int i = 0; i < rows; i++)
            {
                float* s = src + (nint)i * lda;
                float* d = panel + i;
                for (int q = p; q < kc; q++) d[(nint)q * mr] = s[q];
            }

            for (int i = rows; i < mr; i++)
            {
                for (int q = 0; q < kc; q++) panel[(nint)q * mr + i] = 0f;
            }
        }
    }

    /// <summary>Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] into ⌈nc/nr⌉ panels of kc × nr floats: panel q holds, for each
    /// p, the nr values op(B)[p0 + p, j0 + q·nr + ·]. op(B)(p, j) is <c>b[p·ldb + j]</c>, or <c>b[j·ldb + p]</c> when
    /// <paramref name="transposed"/>. <paramref name="scratch"/> holds 16·kc floats for widening.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void B<TB>(TB* b, nint ldb, bool transposed, int p0, int kc, int j0, int nc, int nr, float* dst, float* scratch)
        where TB : unmanaged
    {
        for (int jp = 0; jp < nc; jp += nr)
        {
            int cols = Math.Min(nr, nc - jp);
            float* panel = dst + (nint)jp * kc;
            if (transposed)
            {
                int j = 0;
                if (Avx512F.IsSupported)
                {
                    // 16 rows of B (columns of op(B)) at a time: widen them if needed, then 16 × 16 register transposes.
                    for (; j + 16 <= cols; j += 16)
                    {
                        TB* src = b + (nint)(j0 + jp + j) * ldb + p0;
                        float* rows;
                        nint ld;
                        if (typeof(TB) == typeof(float))
                        {
                            rows = (float*)src;
                            ld = ldb;
                        }
                        else
                        {
                            for (int r = 0; r < 16; r++)
                            {
                                Elements.Widen(new ReadOnlySpan<TB>(src + r * ldb, kc), new Span<float>(scratch + r * kc, kc));
                            }

                            rows = scratch;
                            ld = kc;
                        }

                        int p = 0;
                        for (; p + 16 <= kc; p += 16)
                        {
                            Transpose16x16(rows + p, ld, 16, panel + (nint)p * nr + j, nr);
                        }

                        for (; p < kc; p++)
                        {
                            for (int r = 0; r < 16; r++) panel[(nint)p * nr + j + r] = rows[r * ld + p];
                        }
                    }
                }

                for (; j < cols; j++)
                {
                    TB* src = b + (nint)(j0 + jp + j) * ldb + p0;
                    float* s = Widened(src, kc, scratch);
                    float* d = panel + j;
                    for (int p = 0; p < kc; p++) d[(nint)p * nr] = s[p];
                }

                for (j = cols; j < nr; j++)
                {
                    for (int p = 0; p < kc; p++) panel[(nint)p * nr + j] = 0f;
                }
            }
            else if (typeof(TB) == typeof(float) && cols == nr && nr % 16 == 0 && Vector512.IsHardwareAccelerated)
            {
                float* src = (float*)b + (nint)p0 * ldb + j0 + jp;
                for (int p = 0; p < kc; p++, src += ldb)
                {
                    float* d = panel + (nint)p * nr;
                    for (int j = 0; j < nr; j += 16)
                    {
                        Vector512.Store(Vector512.Load(src + j), d + j);
                    }
                }
            }
            else
            {
                TB* src = b + (nint)p0 * ldb + j0 + jp;
                for (int p = 0; p < kc; p++, src += ldb)
                {
                    float* d = panel + (nint)p * nr;
                    Elements.Widen(new ReadOnlySpan<TB>(src, cols), new Span<float>(d, cols));
                    for (int j = cols; j < nr; j++) d[j] = 0f;
                }
            }
        }
    }

    /// <summary>Writes the transpose of the <paramref name="rows"/> × 16 block at <paramref name="src"/> (row stride
    /// <paramref name="lds"/>; rows 12 or 16) to <paramref name="dst"/>: 16 rows of <paramref name="rows"/> floats,
    /// stride <paramref name="ldd"/>. 64 in-register shuffles per 256 floats instead of 256 scalar strided stores,
    /// which made packing Wᵀ a quarter of the logits product's time.</summary>
    /// <remarks>Rows are taken in groups of four. Stages 1–2 (unpack by 32 then 64 bits) transpose each 128-bit lane
    /// as a 4 × 4 block: s[g][q].lane L = column 4L + q of rows 4g..4g+3. Stages 3–4 (vshuff32x4, 0x88 takes lanes
    /// 0 and 2 of each source, 0xDD lanes 1 and 3) gather lane L of s[0..3][q] into one vector: column 4L + q.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16x16(float* src, nint lds, int rows, float* dst, nint ldd)
    {
        Vector512<float> r0 = Vector512.Load(src), r1 = Vector512.Load(src + lds), r2 = Vector512.Load(src + 2 * lds);
        Vector512<float> r3 = Vector512.Load(src + 3 * lds), r4 = Vector512.Load(src + 4 * lds), r5 = Vector512.Load(src + 5 * lds);
        Vector512<float> r6 = Vector512.Load(src + 6 * lds), r7 = Vector512.Load(src + 7 * lds), r8 = Vector512.Load(src + 8 * lds);
        Vector512<float> r9 = Vector512.Load(src + 9 * lds), r10 = Vector512.Load(src + 10 * lds), r11 = Vector512.Load(src + 11 * lds);
        Vector512<float> r12 = default, r13 = default, r14 = default, r15 = default;
        if (rows == 16)
        {
            r12 = Vector512.Load(src + 12 * lds);
            r13 = Vector512.Load(src + 13 * lds);
            r14 = Vector512.Load(src + 14 * lds);
            r15 = Vector512.Load(src + 15 * lds);
        }

        // Stages 1–2 for each group of four rows: s{g}{q}.
        (Vector512<float> s00, Vector512<float> s01, Vector512<float> s02, Vector512<float> s03) = Lanes4x4(r0, r1, r2, r3);
        (Vector512<float> s10, Vector512<float> s11, Vector512<float> s12, Vector512<float> s13) = Lanes4x4(r4, r5, r6, r7);
        (Vector512<float> s20, Vector512<float> s21, Vector512<float> s22, Vector512<float> s23) = Lanes4x4(r8, r9, r10, r11);
        (Vector512<float> s30, Vector512<float> s31, Vector512<float> s32, Vector512<float> s33) = Lanes4x4(r12, r13, r14, r15);

        // Stages 3–4 for each q.
        Gather(s00, s10, s20, s30, dst, 0, ldd, rows);
        Gather(s01, s11, s21, s31, dst, 1, ldd, rows);
        Gather(s02, s12, s22, s32, dst, 2, ldd, rows);
        Gather(s03, s13, s23, s33, dst, 3, ldd, rows);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float>, Vector512<float>, Vector512<float>, Vector512<float>) Lanes4x4(
        Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        Vector512<double> t0 = Avx512F.UnpackLow(a, b).AsDouble(), t1 = Avx512F.UnpackHigh(a, b).AsDouble();
        Vector512<double> t2 = Avx512F.UnpackLow(c, d).AsDouble(), t3 = Avx512F.UnpackHigh(c, d).AsDouble();
        return (Avx512F.UnpackLow(t0, t2).AsSingle(), Avx512F.UnpackHigh(t0, t2).AsSingle(),
                Avx512F.UnpackLow(t1, t3).AsSingle(), Avx512F.UnpackHigh(t1, t3).AsSingle());
    }

    /// <summary>Columns q, 4 + q, 8 + q and 12 + q from the four row groups' s[g][q]; with 12 rows only the first
    /// 12 lanes are stored, so the rows of a 12-wide panel are written exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Gather(Vector512<float> g0, Vector512<float> g1, Vector512<float> g2, Vector512<float> g3,
        float* dst, int q, nint ldd, int rows)
    {
        Vector512<float> u = Avx512F.Shuffle4x128(g0, g1, 0x88), u1 = Avx512F.Shuffle4x128(g0, g1, 0xDD);
        Vector512<float> w = Avx512F.Shuffle4x128(g2, g3, 0x88), w1 = Avx512F.Shuffle4x128(g2, g3, 0xDD);
        Put(Avx512F.Shuffle4x128(u, w, 0x88), dst + q * ldd, rows);
        Put(Avx512F.Shuffle4x128(u1, w1, 0x88), dst + (4 + q) * ldd, rows);
        Put(Avx512F.Shuffle4x128(u, w, 0xDD), dst + (8 + q) * ldd, rows);
        Put(Avx512F.Shuffle4x128(u1, w1, 0xDD), dst + (12 + q) * ldd, rows);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(Vector512<float> value, float* dst, int rows)
    {
        if (rows == 16)
        {
            value.Store(dst);
        }
        else
        {
            Avx512F.MaskStore(dst, Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(rows)).AsSingle(), value);
        }
    }

    /// <summary>The float view of <paramref name="count"/> elements: the source itself for float, else widened into
    /// <paramref name="scratch"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* Widened<TB>(TB* src, int count, float* scratch)
        where TB : unmanaged
    {
        if (typeof(TB) == typeof(float))
        {
            return (float*)src;
        }

        Elements.Widen(new ReadOnlySpan<TB>(src, count), new Span<float>(scratch, count));
        return scratch;
    }
}
