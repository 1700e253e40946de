using System.Numerics;
using Xent.Kernels;
using Xent.Threading;

namespace Xent;

// Where the target class ranks among a position's scores: the arithmetic behind top-k accuracy, so that evaluation
// code (xent eval) counts hits without scanning logits itself.
public static partial class Functional
{
    /// <summary>The rank of each target class among its position's scores: how many classes come before it when the
    /// classes are ordered by descending score, ties in class order. A rank below k is a top-k hit.</summary>
    /// <typeparam name="T">The element type: float, double, Half or BFloat16.</typeparam>
    /// <typeparam name="TTarget">The class index type: long, int or byte (or another integer type up to 32 bits).</typeparam>
    /// <param name="input">Scores (logits, probabilities or log-probabilities: any order-preserving transform gives the
    /// same ranks), row-major.</param>
    /// <param name="inputShape">(C), (N, C) or (N, C, d1, …, dK).</param>
    /// <param name="target">Class indices, row-major.</param>
    /// <param name="targetShape">() for input (C), (N), or (N, d1, …, dK).</param>
    /// <param name="rank">One element per target: receives the rank, or −1 where the target is
    /// <paramref name="ignoreIndex"/>.</param>
    /// <param name="ignoreIndex">A target value that is not ranked.</param>
    /// <exception cref="ArgumentException">A shape or a length does not fit; the messages are PyTorch's.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A target is out of bounds.</exception>
    /// <exception cref="NotSupportedException">An element or target type is not supported.</exception>
    /// <remarks>Effectively computes rank = #{c : x_c &gt; x_t} + #{c &lt; t : x_c = x_t}, so rank 0 means the target is
    /// what <c>torch.argmax</c> picks (the first maximum). NaN counts as greater than every number, as in
    /// <c>torch.max</c>: a NaN score outranks the target, and a NaN target is outranked only by earlier NaNs.
    /// Half and BFloat16 are compared after widening to float, which preserves their order exactly.</remarks>
    public static void TargetRank<T, TTarget>(ReadOnlySpan<T> input, ReadOnlySpan<nint> inputShape,
        ReadOnlySpan<TTarget> target, ReadOnlySpan<nint> targetShape, Span<int> rank, long ignoreIndex = -100)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        LossDriver.CheckElementType<T>();
        LossDriver.CheckTargetType<TTarget>();
        Shapes.CheckLength(input.Length, inputShape, nameof(input), nameof(inputShape));
        Shapes.CheckLength(target.Length, targetShape, nameof(target), nameof(targetShape));
        LossGeometry g = Shapes.ForClassTarget(inputShape, targetShape);
        if (rank.Length != g.Positions)
        {
            ThrowHelper.ThrowArgument($"'rank' has {rank.Length} elements but there are {g.Positions} targets.", nameof(rank));
        }

        // The pre-pass: every target valid before any output is written, ignore_index tested first as in LossNLL.cpp.
        foreach (TTarget value in target)
        {
            long t = long.CreateTruncating(value);
            if (t != ignoreIndex && (ulong)t >= (ulong)g.C)
            {
                ThrowHelper.ThrowTargetOutOfBounds(t);
            }
        }

        if (typeof(T) == typeof(double))
        {
            Rank<T, double, TTarget>(g, input, target, rank, ignoreIndex);
        }
        else
        {
            Rank<T, float, TTarget>(g, input, target, rank, ignoreIndex);
        }
    }

    private static unsafe void Rank<T, TC, TTarget>(in LossGeometry g, ReadOnlySpan<T> input, ReadOnlySpan<TTarget> target,
        Span<int> rank, long ignoreIndex)
        where T : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        fixed (T* pInput = input)
        fixed (TTarget* pTarget = target)
        fixed (int* pRank = rank)
        {
            var action = new RankRows<T, TC, TTarget>
            {
                G = g, Input = pInput, Target = pTarget, Rank = pRank, IgnoreIndex = ignoreIndex,
            };
            BlockParallel.For(g.N, g.Elements, ref action);
        }
    }

    /// <summary>Ranks the targets of samples [start, end): for each position, one pass over its C scores, which lie
    /// D apart.</summary>
    private unsafe struct RankRows<T, TC, TTarget> : IBlockAction
        where T : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        public LossGeometry G;
        public T* Input;
        public TTarget* Target;
        public int* Rank;
        public long IgnoreIndex;

        public readonly void Execute(long start, long end)
        {
            long c = G.C, d = G.D;
            for (long n = start; n < end; n++)
            {
                for (long j = 0; j < d; j++)
                {
                    long p = n * d + j;
                    long t = long.CreateTruncating(Target[p]);
                    if (t == IgnoreIndex)
                    {
                        Rank[p] = -1;
                        continue;
                    }

                    T* x = Input + (n * c * d) + j;
                    TC xt = Elements.ToCompute<T, TC>(x[t * d]);
                    int before = 0;
                    if (TC.IsNaN(xt))
                    {
                        for (long k = 0; k < t; k++)
                        {
                            before += TC.IsNaN(Elements.ToCompute<T, TC>(x[k * d])) ? 1 : 0;
                        }
                    }
                    else
                    {
                        // Classes before the target win ties; NaN beats every number (x > xt is false for NaN, so test it).
                        for (long k = 0; k < t; k++)
                        {
                            TC xk = Elements.ToCompute<T, TC>(x[k * d]);
                            before += xk >= xt || TC.IsNaN(xk) ? 1 : 0;
                        }

                        for (long k = t + 1; k < c; k++)
                        {
                            TC xk = Elements.ToCompute<T, TC>(x[k * d]);
                            before += xk > xt || TC.IsNaN(xk) ? 1 : 0;
                        }
                    }

                    Rank[p] = before;
                }
            }
        }
    }
}
