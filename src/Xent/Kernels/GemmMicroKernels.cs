using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Xent.Kernels;

/// <summary>The instruction set a GEMM runs on; each has its own register tile.</summary>
internal enum GemmIsa
{
    /// <summary>Plain loops, a 4 × 4 tile: any machine.</summary>
    Scalar,

    /// <summary>Vector128 FMA (Arm's AdvSIMD), an 8 × 8 tile: 16 accumulators + 2 B vectors of Arm's 32 registers.
    /// Picked on Arm only; x86 has it too (tests), but there AVX2 comes with FMA, and without FMA the fused multiply-add
    /// is emulated.</summary>
    Vector128,

    /// <summary>Vector256 FMA (AVX2 + FMA3), a 6 × 16 tile: 12 accumulators + 2 B vectors of the 16 ymm registers.</summary>
    Vector256,

    /// <summary>Vector512 FMA (AVX-512F), a 12 × 32 tile: 24 accumulators + 2 B vectors of the 32 zmm registers.</summary>
    Vector512,
}

/// <summary>The register-tiled inner kernels of <see cref="Gemm"/>: C[MR × NR] (=|+=) Â · B̂ over kc steps, where Â is
/// a packed A micro-panel (kc columns of MR values) and B̂ a packed B micro-panel (kc rows of NR values).</summary>
/// <remarks>
/// Each step broadcasts MR values of Â and multiplies them into the NR-wide row of B̂ held in registers: MR·NR/16
/// FMAs per two B loads. The MR·NR accumulators never leave registers during the kc loop, so the kernel's
/// arithmetic intensity is MR·NR/(MR + NR) FLOP per float loaded from L1. Zen 4 retires one 512-bit FMA per cycle
/// (two 256-bit pipes) with a 4-cycle latency, so at least 4 independent accumulator chains are needed to keep the
/// pipe full; 24 leave ample slack. 12 × 32 is BLIS's Zen 4 sgemm tile (its 32 × 12, transposed for row-major C).
/// The JIT keeps all 24 accumulators, both B vectors and the broadcast in zmm0–zmm26 with no spills (checked with
/// DOTNET_JitDisasm), and in cache the tile runs at the speed of a register-only FMA loop (bench: kernel vs peak).
/// Every accumulator is summed over p in increasing order, so a C element's value depends only on kc blocking, never
/// on which thread or which tile position computed it.
/// </remarks>
internal static unsafe class GemmMicroKernels
{
    public const int MR512 = 12;
    public const int NR512 = 32;
    public const int MR256 = 6;
    public const int NR256 = 16;
    public const int MR128 = 8;
    public const int NR128 = 8;
    public const int MRScalar = 4;
    public const int NRScalar = 4;

    public static GemmIsa Best =>
        Avx512F.IsSupported && Vector512.IsHardwareAccelerated ? GemmIsa.Vector512 :
        Fma.IsSupported && Avx2.IsSupported && Vector256.IsHardwareAccelerated ? GemmIsa.Vector256 :
        AdvSimd.Arm64.IsSupported && Vector128.IsHardwareAccelerated ? GemmIsa.Vector128 :
        GemmIsa.Scalar;

    public static bool IsSupported(GemmIsa isa) => isa switch
    {
        GemmIsa.Vector512 => Avx512F.IsSupported && Vector512.IsHardwareAccelerated,
        GemmIsa.Vector256 => Fma.IsSupported && Avx2.IsSupported && Vector256.IsHardwareAccelerated,
        GemmIsa.Vector128 => Vector128.IsHardwareAccelerated,
        _ => true,
    };

    public static int Mr(GemmIsa isa) => isa switch { GemmIsa.Vector512 => MR512, GemmIsa.Vector256 => MR256, GemmIsa.Vector128 => MR128, _ => MRScalar };

    public static int Nr(GemmIsa isa) => isa switch { GemmIsa.Vector512 => NR512, GemmIsa.Vector256 => NR256, GemmIsa.Vector128 => NR128, _ => NRScalar };

    /// <summary>One tile: C[rows × cols] (=|+=) Â·B̂ with rows ≤ MR and cols ≤ NR; a partial tile goes through a
    /// stack buffer so the kernels only ever store whole vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile(GemmIsa isa, int kc, float* a, float* b, float* c, nint ldc, int rows, int cols, bool add)
    {
        int mr = Mr(isa), nr = Nr(isa);
        if (rows == mr && cols == nr)
        {
            Full(isa, kc, a, b, c, ldc, add);
            return;
        }

        float* t = stackalloc float[MR512 * NR512];
        Full(isa, kc, a, b, t, nr, add: false);
        for (int i = 0; i < rows; i++)
        {
            float* ci = c + i * ldc;
            float* ti = t + i * nr;
            if (add)
            {
                for (int j = 0; j < cols; j++) ci[j] += ti[j];
            }
            else
            {
                for (int j = 0; j < cols; j++) ci[j] = ti[j];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Full(GemmIsa isa, int kc, float* a, float* b, float* c, nint ldc, bool add)
    {
        if (isa == GemmIsa.Vector512)
        {
            Kernel12x32(kc, a, b, c, ldc, add);
        }
        else if (isa == GemmIsa.Vector256)
        {
            Kernel6x16(kc, a, b, c, ldc, add);
        }
        else if (isa == GemmIsa.Vector128)
        {
            Kernel8x8(kc, a, b, c, ldc, add);
        }
        else
        {
            Kernel4x4(kc, a, b, c, ldc, add);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel12x32(int kc, float* a, float* b, float* c, nint ldc, bool add)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b);
            Vector512<float> b1 = Vector512.Load(b + 16);
            Vector512<float> x = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(x, b0, c00);
            c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(x, b0, c10);
            c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(x, b0, c20);
            c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(x, b0, c30);
            c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(x, b0, c40);
            c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(x, b0, c50);
            c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]);
            c60 = Avx512F.FusedMultiplyAdd(x, b0, c60);
            c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]);
            c70 = Avx512F.FusedMultiplyAdd(x, b0, c70);
            c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
            x = Vector512.Create(a[8]);
            c80 = Avx512F.FusedMultiplyAdd(x, b0, c80);
            c81 = Avx512F.FusedMultiplyAdd(x, b1, c81);
            x = Vector512.Create(a[9]);
            c90 = Avx512F.FusedMultiplyAdd(x, b0, c90);
            c91 = Avx512F.FusedMultiplyAdd(x, b1, c91);
            x = Vector512.Create(a[10]);
            ca0 = Avx512F.FusedMultiplyAdd(x, b0, ca0);
            ca1 = Avx512F.FusedMultiplyAdd(x, b1, ca1);
            x = Vector512.Create(a[11]);
            cb0 = Avx512F.FusedMultiplyAdd(x, b0, cb0);
            cb1 = Avx512F.FusedMultiplyAdd(x, b1, cb1);
            a += MR512;
            b += NR512;
        }

        Store512(c, add, c00, c01);
        Store512(c + ldc, add, c10, c11);
        Store512(c + 2 * ldc, add, c20, c21);
        Store512(c + 3 * ldc, add, c30, c31);
        Store512(c + 4 * ldc, add, c40, c41);
        Store512(c + 5 * ldc, add, c50, c51);
        Store512(c + 6 * ldc, add, c60, c61);
        Store512(c + 7 * ldc, add, c70, c71);
        Store512(c + 8 * ldc, add, c80, c81);
        Store512(c + 9 * ldc, add, c90, c91);
        Store512(c + 10 * ldc, add, ca0, ca1);
        Store512(c + 11 * ldc, add, cb0, cb1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, bool add, Vector512<float> v0, Vector512<float> v1)
    {
        if (add)
        {
            v0 += Vector512.Load(c);
            v1 += Vector512.Load(c + 16);
        }

        v0.Store(c);
        v1.Store(c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, nint ldc, bool add)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b);
            Vector256<float> b1 = Vector256.Load(b + 8);
            Vector256<float> x = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(x, b0, c00);
            c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(x, b0, c10);
            c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(x, b0, c20);
            c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(x, b0, c30);
            c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(x, b0, c40);
            c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(x, b0, c50);
            c51 = Fma.MultiplyAdd(x, b1, c51);
            a += MR256;
            b += NR256;
        }

        Store256(c, add, c00, c01);
        Store256(c + ldc, add, c10, c11);
        Store256(c + 2 * ldc, add, c20, c21);
        Store256(c + 3 * ldc, add, c30, c31);
        Store256(c + 4 * ldc, add, c40, c41);
        Store256(c + 5 * ldc, add, c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, bool add, Vector256<float> v0, Vector256<float> v1)
    {
        if (add)
        {
            v0 += Vector256.Load(c);
            v1 += Vector256.Load(c + 8);
        }

        v0.Store(c);
        v1.Store(c + 8);
    }

    /// <summary>The 128-bit kernel through the portable <see cref="Vector128"/> operations (one rounding per step, as the
    /// others).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel8x8(int kc, float* a, float* b, float* c, nint ldc, bool add)
    {
        Vector128<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector128<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector128<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector128<float> b0 = Vector128.Load(b);
            Vector128<float> b1 = Vector128.Load(b + 4);
            Vector128<float> x = Vector128.Create(a[0]);
            c00 = Vector128.FusedMultiplyAdd(x, b0, c00);
            c01 = Vector128.FusedMultiplyAdd(x, b1, c01);
            x = Vector128.Create(a[1]);
            c10 = Vector128.FusedMultiplyAdd(x, b0, c10);
            c11 = Vector128.FusedMultiplyAdd(x, b1, c11);
            x = Vector128.Create(a[2]);
            c20 = Vector128.FusedMultiplyAdd(x, b0, c20);
            c21 = Vector128.FusedMultiplyAdd(x, b1, c21);
            x = Vector128.Create(a[3]);
            c30 = Vector128.FusedMultiplyAdd(x, b0, c30);
            c31 = Vector128.FusedMultiplyAdd(x, b1, c31);
            x = Vector128.Create(a[4]);
            c40 = Vector128.FusedMultiplyAdd(x, b0, c40);
            c41 = Vector128.FusedMultiplyAdd(x, b1, c41);
            x = Vector128.Create(a[5]);
            c50 = Vector128.FusedMultiplyAdd(x, b0, c50);
            c51 = Vector128.FusedMultiplyAdd(x, b1, c51);
            x = Vector128.Create(a[6]);
            c60 = Vector128.FusedMultiplyAdd(x, b0, c60);
            c61 = Vector128.FusedMultiplyAdd(x, b1, c61);
            x = Vector128.Create(a[7]);
            c70 = Vector128.FusedMultiplyAdd(x, b0, c70);
            c71 = Vector128.FusedMultiplyAdd(x, b1, c71);
            a += MR128;
            b += NR128;
        }

        Store128(c, add, c00, c01);
        Store128(c + ldc, add, c10, c11);
        Store128(c + 2 * ldc, add, c20, c21);
        Store128(c + 3 * ldc, add, c30, c31);
        Store128(c + 4 * ldc, add, c40, c41);
        Store128(c + 5 * ldc, add, c50, c51);
        Store128(c + 6 * ldc, add, c60, c61);
        Store128(c + 7 * ldc, add, c70, c71);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store128(float* c, bool add, Vector128<float> v0, Vector128<float> v1)
    {
        if (add)
        {
            v0 += Vector128.Load(c);
            v1 += Vector128.Load(c + 4);
        }

        v0.Store(c);
        v1.Store(c + 4);
    }

    /// <summary>The portable kernel. <see cref="MathF.FusedMultiplyAdd"/> keeps its rounding equal to the vector
    /// kernels' (one rounding per step), so every ISA gives the same bits for the same blocking.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel4x4(int kc, float* a, float* b, float* c, nint ldc, bool add)
    {
        float* acc = stackalloc float[MRScalar * NRScalar];
        new Span<float>(acc, MRScalar * NRScalar).Clear();
        for (int p = 0; p < kc; p++)
        {
            for (int i = 0; i < MRScalar; i++)
            {
                float ai = a[i];
                float* row = acc + i * NRScalar;
                row[0] = MathF.FusedMultiplyAdd(ai, b[0], row[0]);
                row[1] = MathF.FusedMultiplyAdd(ai, b[1], row[1]);
                row[2] = MathF.FusedMultiplyAdd(ai, b[2], row[2]);
                row[3] = MathF.FusedMultiplyAdd(ai, b[3], row[3]);
            }

            a += MRScalar;
            b += NRScalar;
        }

        for (int i = 0; i < MRScalar; i++)
        {
            for (int j = 0; j < NRScalar; j++)
            {
                c[i * ldc + j] = add ? c[i * ldc + j] + acc[i * NRScalar + j] : acc[i * NRScalar + j];
            }
        }
    }
}
