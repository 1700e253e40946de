using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Xent.Kernels;

/// <summary>The float sums of the general row path, taken as the fused kernels take theirs: float partials over blocks of
/// <see cref="Block"/> terms (TensorPrimitives, vectorized), the partials added in double and the total rounded once;
/// without SIMD, every term added in double (a scalar double add costs what a float one does). double sums are
/// TensorPrimitives' own.</summary>
/// <remarks>The general path is what machines without AVX2 run (Arm, SSE-only x86, no SIMD at all), and any machine's
/// rows that hold a NaN or an infinity. Summed in float over a whole row, a long row's sums drift: without SIMD (one
/// running float), 40000 classes gave gradients 4e-5 off and a million classes a loss 5e-5 off; with 4 lanes, a loss
/// over 5000 smoothed classes came out 6e-5 off (the terms of Σ u and Σ u·(x − m) all lean the same way).</remarks>
internal static class BlockSums
{
    /// <summary>Terms per float partial: 16 per lane of a 128-bit vector, fewer with wider ones.</summary>
    internal const int Block = 64;

    /// <summary>Σ x.</summary>
    public static TC Sum<TC>(ReadOnlySpan<TC> x)
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        if (typeof(TC) != typeof(float) || x.Length <= 1)
        {
            return TensorPrimitives.Sum(x);
        }

        double total = 0;
        if (!Vector128.IsHardwareAccelerated)
        {
            foreach (TC v in x)
            {
                total += double.CreateTruncating(v);
            }
        }
        else
        {
            for (int i = 0; i < x.Length; i += Block)
            {
                total += double.CreateTruncating(TensorPrimitives.Sum(x.Slice(i, Math.Min(Block, x.Length - i))));
            }
        }

        return TC.CreateTruncating(total);
    }

    /// <summary>Σ x·y.</summary>
    public static TC Dot<TC>(ReadOnlySpan<TC> x, ReadOnlySpan<TC> y)
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        if (typeof(TC) != typeof(float) || x.Length <= 1)
        {
            return TensorPrimitives.Dot(x, y);
        }

        double total = 0;
        if (!Vector128.IsHardwareAccelerated)
        {
            for (int i = 0; i < x.Length; i++)
            {
                // The product in double is exact, as the float FMA-free product rounded once would not be; PyTorch's
                // scalar path rounds it to float first, a difference far below the sum's.
                total += double.CreateTruncating(x[i]) * double.CreateTruncating(y[i]);
            }
        }
        else
        {
            for (int i = 0; i < x.Length; i += Block)
            {
                int n = Math.Min(Block, x.Length - i);
                total += double.CreateTruncating(TensorPrimitives.Dot(x.Slice(i, n), y.Slice(i, n)));
            }
        }

        return TC.CreateTruncating(total);
    }
}
