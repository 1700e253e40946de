using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
        for (int ip = 0; ip < mc; ip += mr)
        {
            int rows = Math.Min(mr, mc - ip);
            float* panel = dst + (nint)ip * kc;
            if (transposed)
            {
                // Each p holds the panel's rows contiguously: a straight copy per step.
                float* src = a + (nint)p0 * lda + i0 + ip;
                for (int p = 0; p < kc; p++, src += lda)
                {
                    float* d = panel + (nint)p * mr;
                    int i = 0;
                    for (; i < rows; i++) d[i] = src[i];
                    for (; i < mr; i++) d[i] = 0f;
                }
            }
            else
            {
                // Each row is contiguous in p: read it once, write it with stride mr (the panel stays in L1).
                for (int i = 0; i < rows; i++)
                {
                    float* src = a + (nint)(i0 + ip + i) * lda + p0;
                    float* d = panel + i;
                    for (int p = 0; p < kc; p++) d[(nint)p * mr] = src[p];
                }

                for (int i = rows; i < mr; i++)
                {
                    for (int p = 0; p < kc; p++) panel[(nint)p * mr + i] = 0f;
                }
            }
        }
    }

    /// <summary>Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] into ⌈nc/nr⌉ panels of kc × nr floats: panel q holds, for each
    /// p, the nr values op(B)[p0 + p, j0 + q·nr + ·]. op(B)(p, j) is <c>b[p·ldb + j]</c>, or <c>b[j·ldb + p]</c> when
    /// <paramref name="transposed"/>. <paramref name="scratch"/> holds kc floats for widening.</summary>
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
                for (int j = 0; j < cols; j++)
                {
                    TB* src = b + (nint)(j0 + jp + j) * ldb + p0;
                    float* s = Widened(src, kc, scratch);
                    float* d = panel + j;
                    for (int p = 0; p < kc; p++) d[(nint)p * nr] = s[p];
                }

                for (int j = cols; j < nr; j++)
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
