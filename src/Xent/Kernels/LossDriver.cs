using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Xent.Kernels;

/// <summary>Validates a call completely (shapes, lengths, options, every target) before any output is written, then
/// runs the kernel and reduces its per-block partials in a fixed order.</summary>
internal static unsafe class LossDriver
{
    public static void CheckElementType<T>(string paramName = "input")
    {
        if (!Elements.IsSupported<T>())
        {
            ThrowHelper.ThrowUnsupportedType(typeof(T), paramName);
        }
    }

    public static void CheckTargetType<TTarget>()
    {
        if (typeof(TTarget) != typeof(long) && typeof(TTarget) != typeof(int) && typeof(TTarget) != typeof(byte) &&
            typeof(TTarget) != typeof(sbyte) && typeof(TTarget) != typeof(short) && typeof(TTarget) != typeof(ushort) &&
            typeof(TTarget) != typeof(uint))
        {
            ThrowHelper.ThrowUnsupportedType(typeof(TTarget), "target");
        }
    }

    public static void CheckReduction(Reduction reduction)
    {
        if ((uint)reduction > (uint)Reduction.Sum)
        {
            ThrowHelper.ThrowInvalidReduction<int>(reduction);
        }
    }

    /// <summary>PyTorch's check: smoothing applies only for ε &gt; 0, which must then be at most 1 (+∞ is not); a
    /// negative or NaN ε means no smoothing, for class and probability targets alike
    /// (<see cref="EffectiveSmoothing{T}(T)"/>). <typeparamref name="T"/>: double, or float for the linear loss's
    /// options (its value printed as written).</summary>
    public static void CheckSmoothing<T>(T labelSmoothing)
        where T : IFloatingPointIeee754<T>
    {
        if (labelSmoothing > T.One)
        {
            ThrowHelper.ThrowLabelSmoothing(labelSmoothing);
        }
    }

    /// <summary>The ε the kernels use: ε where ε &gt; 0, else 0 (a negative or NaN ε, which PyTorch
    /// ignores).</summary>
    public static T EffectiveSmoothing<T>(T labelSmoothing)
        where T : IFloatingPointIeee754<T> => labelSmoothing > T.Zero ? labelSmoothing : T.Zero;

    public static void CheckOutputs(in LossGeometry g, Reduction reduction, long lossLength, long inputLength, long gradInputLength, long gradOutputLength)
    {
        long expected = Shapes.LossLength(g, reduction);
        if (lossLength != 0 && lossLength != expected)
        {
            ThrowHelper.ThrowArgument($"'loss' has {lossLength} elements but reduction '{reduction.ToPyTorchString()}' produces {expected}.", "loss");
        }

        if (gradInputLength != 0 && gradInputLength != inputLength)
        {
            ThrowHelper.ThrowArgument($"'gradInput' has {gradInputLength} elements but the input has {inputLength}.", "gradInput");
        }

        if (gradOutputLength != 0 && gradOutputLength != expected)
        {
            ThrowHelper.ThrowArgument($"'gradOutput' has {gradOutputLength} elements but the loss it is the gradient of has {expected}.", "gradOutput");
        }
    }

    /// <summary>One buffer of a call, for <see cref="CheckNoOverlap"/>: where it starts, its bytes, its parameter name,
    /// and whether the call writes it.</summary>
    internal readonly record struct Buffer(nint Start, long Bytes, string Name, bool Written)
    {
        public static Buffer Of<TE>(TE* start, long count, string name, bool written)
            where TE : unmanaged => new((nint)start, start == null ? 0 : count * sizeof(TE), name, written);
    }

    /// <summary>Every buffer the call writes must have memory of its own. The kernels read the input again after they
    /// have written part of the gradient (a row or tile with a NaN or ±∞ goes to the general path; NLL clears the
    /// gradient before it reads x_t; log-softmax likewise), so a gradient written over its own input gave wrong numbers
    /// without an error. PyTorch refuses such out= arguments too.</summary>
    /// <exception cref="ArgumentException">A written buffer shares memory with another buffer of the call.</exception>
    internal static void CheckNoOverlap(ReadOnlySpan<Buffer> buffers)
    {
        foreach (Buffer written in buffers)
        {
            if (!written.Written || written.Bytes == 0)
            {
                continue;
            }

            foreach (Buffer other in buffers)
            {
                if (other.Name != written.Name && other.Bytes != 0
                    && written.Start < other.Start + (nint)other.Bytes && other.Start < written.Start + (nint)written.Bytes)
                {
                    ThrowHelper.ThrowArgument($"unsupported operation: some elements of '{other.Name}' and the written-to '{written.Name}' refer to a single memory location. Pass '{written.Name}' a buffer of its own.", written.Name);
                }
            }
        }
    }

    /// <summary><see cref="CheckNoOverlap"/> for a loss call: the input and <paramref name="targetCount"/> targets read,
    /// the upstream gradient read, the loss and the input's gradient written (one loss and upstream gradient when
    /// reduced, one per position otherwise).</summary>
    private static void CheckLossBuffers<T, TTarget>(in LossGeometry g, Reduction reduction, T* input, TTarget* target, long targetCount,
        T* loss, T* gradInput, T* gradOutput)
        where T : unmanaged
        where TTarget : unmanaged
    {
        long perLoss = reduction == Reduction.None ? g.Positions : 1;
        CheckNoOverlap([
            Buffer.Of(input, g.Elements, "input", false), Buffer.Of(target, targetCount, "target", false),
            Buffer.Of(gradOutput, perLoss, "gradOutput", false), Buffer.Of(loss, perLoss, "loss", true),
            Buffer.Of(gradInput, g.Elements, "gradInput", true)]);
    }

    /// <summary>NLL or cross-entropy with class-index targets. Returns the total weight (the mean's denominator).</summary>
    public static double ClassTarget<T, TC, TTarget>(bool crossEntropy, in LossGeometry g, ReadOnlySpan<T> input,
        ReadOnlySpan<TTarget> target, Span<T> loss, Reduction reduction, ReadOnlySpan<T> weight, long ignoreIndex,
        double labelSmoothing, Span<T> gradInput, ReadOnlySpan<T> gradOutput)
        where T : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        fixed (T* pInput = input)
        fixed (TTarget* pTarget = target)
        fixed (T* pLoss = loss)
        fixed (T* pGradInput = gradInput)
        fixed (T* pGradOutput = gradOutput)
        {
            return ClassTarget<T, TC, TTarget>(crossEntropy, g, pInput, pTarget, loss.IsEmpty ? null : pLoss, reduction,
                weight, ignoreIndex, labelSmoothing, gradInput.IsEmpty ? null : pGradInput, gradOutput.IsEmpty ? null : pGradOutput);
        }
    }

    /// <summary>The pointer core of <see cref="ClassTarget{T, TC, TTarget}(bool, in LossGeometry, ReadOnlySpan{T}, ReadOnlySpan{TTarget}, Span{T}, Reduction, ReadOnlySpan{T}, long, double, Span{T}, ReadOnlySpan{T})"/>:
    /// lengths come from the geometry (64-bit), so tensors past 2^31 elements work. Null pointers mean "not asked for".</summary>
    public static double ClassTarget<T, TC, TTarget>(bool crossEntropy, in LossGeometry g, T* pInput, TTarget* pTarget,
        T* pLoss, Reduction reduction, ReadOnlySpan<T> weight, long ignoreIndex, double labelSmoothing, T* pGradInput,
        T* pGradOutput)
        where T : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        CheckLossBuffers(g, reduction, pInput, pTarget, g.Positions, pLoss, pGradInput, pGradOutput);
        labelSmoothing = EffectiveSmoothing(labelSmoothing);
        TC[]? w = RentWeight<T, TC>(weight, out TC weightSum, g.C);
        double[]? partials = null;
        try
        {
            fixed (TC* pWeight = w)
            {
                double totalWeight = TotalWeight(pTarget, g.Positions, g.C, ignoreIndex, w == null ? null : pWeight);
                TC gradScale = GradScale<T, TC>(reduction, pGradOutput, totalWeight);
                bool reduced = reduction != Reduction.None;
                T* perPosition = reduced ? null : pLoss;
                T* upstream = reduced ? null : pGradOutput;
                double total;
                bool divided = false;
                if (crossEntropy)
                {
                    var rows = new SoftmaxRows<T, TC, TTarget>
                    {
                        Kind = RowKind.ClassTarget, G = g, Input = pInput, Target = pTarget,
                        Weight = w == null ? null : pWeight, WeightSum = weightSum, IgnoreIndex = ignoreIndex,
                        Smoothing = TC.CreateTruncating(labelSmoothing), Loss = perPosition,
                        Output = pGradInput, GradScale = gradScale, GradOutput = upstream,
                    };
                    rows.Plan();
                    partials = reduced ? ArrayPool<double>.Shared.Rent((int)rows.Blocks) : null;
                    fixed (double* pPartials = partials)
                    {
                        rows.Partials = pPartials;
                        rows.Run();
                        total = reduced ? PairwiseSum.Sum(new ReadOnlySpan<double>(pPartials, (int)rows.Blocks)) : 0;
                        if (reduction == Reduction.Mean && totalWeight == 0 && labelSmoothing != 0 && pLoss != null)
                        {
                            // PyTorch divides its two terms apart: (1 − ε)·nll/W + (ε/C)·smooth/W. With W = 0 that is
                            // not the combined sum over 0 (0/0 + x/0 is NaN, not ±∞), so in this degenerate case the NLL
                            // sum is recomputed on its own (forward only) and the two quotients taken as PyTorch does.
                            SoftmaxRows<T, TC, TTarget> nllOnly = rows;
                            nllOnly.Smoothing = TC.Zero;
                            nllOnly.Loss = null;
                            nllOnly.Output = null;
                            nllOnly.Run();
                            double nll = PairwiseSum.Sum(new ReadOnlySpan<double>(pPartials, (int)rows.Blocks));
                            double keep = 1 - labelSmoothing, share = labelSmoothing / g.C;
                            double smooth = (total - keep * nll) / share;
                            total = keep * (nll / totalWeight) + share * (smooth / totalWeight);
                            divided = true;

                            // Its gradient: every class of a live position gets ±∞ from the smoothing term and 0·∞ or
                            // ∞ − ∞ from the rest, so log-softmax's backward makes each live row NaN throughout.
                            if (pGradInput != null)
                            {
                                FillLiveRows(g, pTarget, ignoreIndex, pGradInput, Elements.FromCompute<T, TC>(TC.NaN));
                            }
                        }
                    }
                }
                else
                {
                    var rows = new NllRows<T, TC, TTarget>
                    {
                        G = g, Input = pInput, Target = pTarget, Weight = w == null ? null : pWeight,
                        IgnoreIndex = ignoreIndex, Loss = perPosition, GradInput = pGradInput,
                        GradScale = gradScale, GradOutput = upstream,
                    };
                    partials = reduced ? ArrayPool<double>.Shared.Rent((int)rows.Blocks) : null;
                    fixed (double* pPartials = partials)
                    {
                        rows.Partials = pPartials;
                        rows.Run();
                        total = reduced ? PairwiseSum.Sum(new ReadOnlySpan<double>(pPartials, (int)rows.Blocks)) : 0;
                    }
                }

                if (reduced && pLoss != null)
                {
                    // Mean over zero total weight is IEEE x/0 as in PyTorch: 0/0 = NaN (all ignored, an empty batch, zero
                    // weights), ±∞ when weights of both signs cancel; a sum of nothing is 0.
                    *pLoss = FromDouble<T>(reduction != Reduction.Mean || divided ? total : total / totalWeight);
                }

                return totalWeight;
            }
        }
        finally
        {
            if (w != null) ArrayPool<TC>.Shared.Return(w);
            if (partials != null) ArrayPool<double>.Shared.Return(partials);
        }
    }

    /// <summary>Cross-entropy with class-probability targets: the mean divides by N·d1…dK, not by weights.</summary>
    public static void ProbabilityTarget<T, TC>(in LossGeometry g, ReadOnlySpan<T> input, ReadOnlySpan<T> target,
        Span<T> loss, Reduction reduction, ReadOnlySpan<T> weight, double labelSmoothing, Span<T> gradInput,
        ReadOnlySpan<T> gradOutput)
        where T : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        fixed (T* pInput = input)
        fixed (T* pTarget = target)
        fixed (T* pLoss = loss)
        fixed (T* pGradInput = gradInput)
        fixed (T* pGradOutput = gradOutput)
        {
            ProbabilityTarget<T, TC>(g, pInput, pTarget, loss.IsEmpty ? null : pLoss, reduction, weight, labelSmoothing,
                gradInput.IsEmpty ? null : pGradInput, gradOutput.IsEmpty ? null : pGradOutput);
        }
    }

    /// <summary>The pointer core of the probability-target loss; null pointers mean "not asked for".</summary>
    public static void ProbabilityTarget<T, TC>(in LossGeometry g, T* pInput, T* pTarget, T* pLoss, Reduction reduction,
        ReadOnlySpan<T> weight, double labelSmoothing, T* pGradInput, T* pGradOutput)
        where T : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        CheckLossBuffers(g, reduction, pInput, pTarget, g.Elements, pLoss, pGradInput, pGradOutput);
        if (g.Elements == 0)
        {
            // No logits, so nothing to run: with C = 0 there may be up to 2^63 positions, which the reduced loss does not
            // store and the row loop once walked one by one. Every position's loss is 0; the mean over numel == 0 is NaN.
            if (pLoss != null && reduction == Reduction.None)
            {
                new Span<T>(pLoss, checked((int)g.Positions)).Clear();
            }
            else if (pLoss != null)
            {
                double nothing = 0;
                *pLoss = FromDouble<T>(reduction == Reduction.Mean ? nothing / nothing : nothing);
            }

            return;
        }

        labelSmoothing = EffectiveSmoothing(labelSmoothing);
        TC[]? w = RentWeight<T, TC>(weight, out TC weightSum, g.C);
        double[]? partials = null;
        try
        {
            fixed (TC* pWeight = w)
            {
                // PyTorch: numel == 0 gives NaN for the mean, else the sum over numel / C positions.
                double denominator = g.Elements == 0 ? 0 : g.Positions;
                TC gradScale = GradScale<T, TC>(reduction, pGradOutput, denominator);
                bool reduced = reduction != Reduction.None;
                var rows = new SoftmaxRows<T, TC, byte>
                {
                    Kind = RowKind.ProbabilityTarget, G = g, Input = pInput, ProbTarget = pTarget,
                    Weight = w == null ? null : pWeight, WeightSum = weightSum, Smoothing = TC.CreateTruncating(labelSmoothing),
                    Loss = reduced ? null : pLoss, Output = pGradInput,
                    GradScale = gradScale, GradOutput = reduced ? null : pGradOutput,
                };
                rows.Plan();
                partials = reduced ? ArrayPool<double>.Shared.Rent((int)rows.Blocks) : null;
                fixed (double* pPartials = partials)
                {
                    rows.Partials = pPartials;
                    rows.Run();
                    if (reduced && pLoss != null)
                    {
                        double total = PairwiseSum.Sum(new ReadOnlySpan<double>(pPartials, (int)rows.Blocks));
                        *pLoss = FromDouble<T>(reduction == Reduction.Mean ? total / denominator : total);
                    }
                }
            }
        }
        finally
        {
            if (w != null) ArrayPool<TC>.Shared.Return(w);
            if (partials != null) ArrayPool<double>.Shared.Return(partials);
        }
    }

    /// <summary>Log-softmax over the middle axis of (outer, C, inner).</summary>
    public static void LogSoftmax<T, TC>(in LossGeometry g, ReadOnlySpan<T> input, Span<T> output)
        where T : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        if (g.Elements == 0)
        {
            // Nothing to normalize; the row loop would walk the positions (up to 2^63 of them with C = 0) one by one.
            return;
        }

        fixed (T* pInput = input)
        fixed (T* pOutput = output)
        {
            CheckNoOverlap([Buffer.Of(pInput, g.Elements, "input", false), Buffer.Of(pOutput, g.Elements, "output", true)]);
            var rows = new SoftmaxRows<T, TC, byte> { Kind = RowKind.LogSoftmax, G = g, Input = pInput, Output = pOutput };
            rows.Run();
        }
    }

    private static void FillLiveRows<T, TTarget>(in LossGeometry g, TTarget* target, long ignoreIndex, T* grad, T value)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        for (long p = 0; p < g.Positions; p++)
        {
            if (long.CreateTruncating(target[p]) == ignoreIndex)
            {
                continue;
            }

            long n = p / g.D, j = p - n * g.D;
            for (long c = 0; c < g.C; c++)
            {
                grad[(n * g.C + c) * g.D + j] = value;
            }
        }
    }

    /// <summary>Targets per block of the pre-pass: its partial sums are kept per block and added in block order, so the
    /// total weight is the same for any thread count.</summary>
    private const long TargetBlock = 1 << 16;

    /// <summary>The pre-pass: checks every target (ignore_index first, then bounds, as LossNLL.cpp) and sums the
    /// weights of the non-ignored ones in double, before any output. Millions of targets (the K-dim layouts) are read
    /// on all cores, in blocks of <see cref="TargetBlock"/>; the first bad target in order is the one reported.</summary>
    private static double TotalWeight<TTarget, TC>(TTarget* target, long count, int classes, long ignoreIndex, TC* weight)
        where TTarget : unmanaged, IBinaryInteger<TTarget>
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        long blocks = (count + TargetBlock - 1) / TargetBlock;
        if (blocks <= 1)
        {
            double single = TargetRange(target, count, classes, ignoreIndex, weight, out long bad);
            if (bad >= 0)
            {
                ThrowHelper.ThrowTargetOutOfBounds(long.CreateTruncating(target[bad]));
            }

            return single;
        }

        double[] sums = ArrayPool<double>.Shared.Rent((int)blocks);
        long[] firstBad = ArrayPool<long>.Shared.Rent((int)blocks);
        try
        {
            fixed (double* pSums = sums)
            fixed (long* pBad = firstBad)
            {
                var pass = new TargetPass<TTarget, TC>
                {
                    Target = target, Count = count, Classes = classes, IgnoreIndex = ignoreIndex, Weight = weight,
                    Sums = pSums, FirstBad = pBad,
                };
                Threading.BlockParallel.For(blocks, count, ref pass);
            }

            double total = 0;
            for (long b = 0; b < blocks; b++)
            {
                if (firstBad[b] >= 0)
                {
                    ThrowHelper.ThrowTargetOutOfBounds(long.CreateTruncating(target[firstBad[b]]));
                }

                total += sums[b];
            }

            return total;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(sums);
            ArrayPool<long>.Shared.Return(firstBad);
        }
    }

    /// <summary><see cref="TotalWeight"/>'s blocks: each one's sum, and the index of its first bad target or −1.</summary>
    private struct TargetPass<TTarget, TC> : Threading.IBlockAction
        where TTarget : unmanaged, IBinaryInteger<TTarget>
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        public TTarget* Target;
        public long Count;
        public int Classes;
        public long IgnoreIndex;
        public TC* Weight;
        public double* Sums;
        public long* FirstBad;

        public readonly void Execute(long start, long end)
        {
            for (long b = start; b < end; b++)
            {
                long p0 = b * TargetBlock;
                Sums[b] = TargetRange(Target + p0, Math.Min(TargetBlock, Count - p0), Classes, IgnoreIndex, Weight, out long bad);
                FirstBad[b] = bad < 0 ? -1 : p0 + bad;
            }
        }
    }

    /// <summary>The count of non-ignored targets among <paramref name="count"/>, or (with <paramref name="weight"/>)
    /// their weights' sum; stops at the first target out of bounds, its index in <paramref name="bad"/> (else −1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double TargetRange<TTarget, TC>(TTarget* target, long count, int classes, long ignoreIndex, TC* weight, out long bad)
        where TTarget : unmanaged, IBinaryInteger<TTarget>
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        bad = -1;
        double total = 0;
        long valid = 0;
        long p = 0;
        if ((typeof(TTarget) == typeof(long) || typeof(TTarget) == typeof(int) || typeof(TTarget) == typeof(byte))
            && (weight == null || typeof(TC) == typeof(float)) && Avx512F.IsSupported)
        {
            // int64, int32 and uint8 targets 8 at a time (the K-dim layouts have millions): the count, or Σ w[t] in double
            // lanes; a block with a target out of bounds stops here, for the scalar loop to find the first one.
            Vector512<long> ignore = Vector512.Create(ignoreIndex), counts = Vector512<long>.Zero;
            Vector512<ulong> bound = Vector512.Create((ulong)classes);
            Vector512<double> sums = Vector512<double>.Zero;
            for (; p <= count - 8; p += 8)
            {
                Vector512<long> t = typeof(TTarget) == typeof(long) ? Vector512.Load((long*)target + p)
                    : typeof(TTarget) == typeof(int) ? Avx512F.ConvertToVector512Int64(Vector256.Load((int*)target + p))
                    : Avx512F.ConvertToVector512Int64(Vector128.CreateScalar(*(ulong*)((byte*)target + p)).AsByte());
                Vector512<long> live = ~Vector512.Equals(t, ignore);
                if ((live & Vector512.GreaterThanOrEqual(t.AsUInt64(), bound).AsInt64()) != Vector512<long>.Zero)
                {
                    break;
                }

                counts -= live;
                if (weight != null)
                {
                    // Ignored lanes read w[0] and are dropped.
                    Vector256<int> index = Avx512F.ConvertToVector256Int32(t & live);
                    Vector512<double> wv = Avx512F.ConvertToVector512Double(Avx2.GatherVector256((float*)weight, index, 4));
                    sums += wv & live.AsDouble();
                }
            }

            valid = Vector512.Sum(counts);
            total = Vector512.Sum(sums);
        }

        for (; p < count; p++)
        {
            long t = long.CreateTruncating(target[p]);
            if (t == ignoreIndex)
            {
                continue;
            }

            if ((ulong)t >= (ulong)classes)
            {
                bad = p;
                break;
            }

            valid++;
            if (weight != null)
            {
                total += double.CreateTruncating(weight[t]);
            }
        }

        return weight == null ? valid : total;
    }

    private static TC GradScale<T, TC>(Reduction reduction, T* gradOutput, double denominator)
        where T : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        if (reduction == Reduction.None)
        {
            return TC.One;
        }

        TC upstream = gradOutput == null ? TC.One : Elements.ToCompute<T, TC>(*gradOutput);
        return reduction == Reduction.Mean ? upstream / TC.CreateTruncating(denominator) : upstream;
    }

    /// <summary>Weights are rounded to T first (PyTorch's weight has the input's dtype), then widened.</summary>
    private static TC[]? RentWeight<T, TC>(ReadOnlySpan<T> weight, out TC weightSum, int classes)
        where T : unmanaged
        where TC : unmanaged, IFloatingPointIeee754<TC>
    {
        if (weight.IsEmpty)
        {
            weightSum = TC.CreateTruncating(classes);
            return null;
        }

        TC[] w = ArrayPool<TC>.Shared.Rent(weight.Length);
        Elements.Widen(weight, w.AsSpan(0, weight.Length));
        // In double, rounded once: W scales every gradient of a smoothed row, and summed in float over 5000 classes it came
        // out 2.4e-6 off (libtorch sums its terms with a cascade).
        double sum = 0;
        foreach (TC v in w.AsSpan(0, weight.Length))
        {
            sum += double.CreateTruncating(v);
        }

        weightSum = TC.CreateTruncating(sum);
        return w;
    }

    public static T FromDouble<T>(double value)
    {
        if (typeof(T) == typeof(double))
        {
            return Unsafe.As<double, T>(ref value);
        }

        if (typeof(T) == typeof(Half))
        {
            // Straight from double, so the result is the exact answer rounded once.
            Half h = (Half)value;
            return Unsafe.As<Half, T>(ref h);
        }

        float f = (float)value;
        return Elements.FromCompute<T, float>(f);
    }
}
