using System.Numerics;
using CsCheck;
using Xent.Tests.Reference;

namespace Xent.Tests.Library;

/// <summary>The kind of loss a generated case calls.</summary>
public enum LossKind
{
    Nll,
    CrossEntropy,
    CrossEntropyProbabilities,
}

/// <summary>One generated call: its structure (what CsCheck shrinks) and a seed for its values.</summary>
public sealed record LossCase(
    LossKind Kind,
    long[] Shape,
    ElementType Element,
    TargetType TargetType,
    Reduction Reduction,
    int WeightKind,
    int IgnoreKind,
    double Smoothing,
    int GradOutputKind,
    bool WantLoss,
    bool WantGrad,
    double Scale,
    int DataSeed)
{
    public int C => (int)Shape[Shape.Length == 1 ? 0 : 1];

    public long Positions => Numbers.Product(Numbers.TargetShape(Shape));

    public long LossLength => Numbers.LossLength(Shape, Reduction);

    /// <summary>ignore_index: −100 (PyTorch's default), another negative value, a class in range, or a value ≥ C.</summary>
    public long IgnoreIndex(Random random) => IgnoreKind switch
    {
        0 => -100,
        1 => -random.Next(1, 6),
        2 => random.Next(C),
        _ => C + random.Next(0, 6),
    };

    public CaseData Data()
    {
        var random = new Random(DataSeed);
        long numel = Numbers.Product(Shape);
        double[] input = Numbers.Gaussian(random, numel, Scale);
        long ignoreIndex = Kind == LossKind.CrossEntropyProbabilities ? (IgnoreKind == 1 ? -random.Next(1, 6) : -100) : IgnoreIndex(random);
        bool ignorable = TargetType != TargetType.Byte || (ignoreIndex >= 0 && ignoreIndex <= 255);
        long[] target = new long[Positions];
        for (long p = 0; p < target.Length; p++)
        {
            target[p] = ignorable && random.Next(4) == 0 ? ignoreIndex : random.Next(C);
        }

        double[] prob = new double[numel];
        for (long i = 0; i < numel; i++)
        {
            prob[i] = random.Next(5) == 0 ? 0.0 : random.NextDouble();
        }

        double[]? weight = WeightKind switch
        {
            0 => null,
            1 => Enumerable.Range(0, C).Select(_ => 0.1 + 1.9 * random.NextDouble()).ToArray(),
            _ => Enumerable.Range(0, C).Select(_ => random.Next(3) == 0 ? 0.0 : 2 * random.NextDouble()).ToArray(),
        };
        double[]? gradOutput = GradOutputKind == 0 ? null
            : Enumerable.Range(0, (int)LossLength).Select(_ => 4 * random.NextDouble() - 2).ToArray();
        return new CaseData(input, target, prob, weight, ignoreIndex, gradOutput);
    }

    public override string ToString() =>
        $"{Kind} [{string.Join(", ", Shape)}] {Element} {TargetType} {Reduction} weight={WeightKind} ignore={IgnoreKind} " +
        $"ε={Smoothing:R} gradOutput={GradOutputKind} loss={WantLoss} grad={WantGrad} scale={Scale} seed={DataSeed}";
}

/// <summary>The values of a generated case, in double, before rounding to the element type.</summary>
public sealed record CaseData(double[] Input, long[] Target, double[] Prob, double[]? Weight, long IgnoreIndex, double[]? GradOutput);

/// <summary>Property tests: the library against the float64 reference over random layouts, element and target types,
/// reductions, weights, ignore_index, smoothing, probability targets and upstream gradients; finite differences;
/// every class count; a large vocabulary; determinism across thread counts.</summary>
public class PropertyTests
{
    private static readonly Gen<long[]> s_shape =
        Gen.Int[1, 5].SelectMany(rank => rank == 1
            ? Gen.Int[1, 40].Select(c => new long[] { c })
            : Gen.Select(Gen.Frequency((1, Gen.Const(0)), (6, Gen.Int[1, 6])), Gen.Int[1, 40], Gen.Int[1, 4].Array[rank - 2])
                .Select((n, c, ds) => (long[])[n, c, .. ds.Select(d => (long)d)]))
        .Where(s => Numbers.Product(s) <= 6000);

    /// <summary>Mostly true: most calls ask for both the loss and the gradient.</summary>
    private static readonly Gen<bool> s_mostly = Gen.Frequency((1, Gen.Const(false)), (6, Gen.Const(true)));

    private static readonly Gen<double> s_smoothing =
        Gen.Frequency((3, Gen.Const(0.0)), (4, Gen.Double[0.0, 1.0]), (1, Gen.Const(1.0)));

    private static Gen<LossCase> Cases(ElementType element, params LossKind[] kinds) =>
        Gen.Select(
            Gen.Select(
                Gen.OneOfConst(kinds), s_shape, Gen.Enum<TargetType>(), Gen.Enum<Reduction>(),
                Gen.Int[0, 2], Gen.Int[0, 3], s_smoothing, Gen.Int[0, 1]),
            Gen.Select(s_mostly, s_mostly, Gen.OneOfConst(1.0, 4.0, 15.0), Gen.Int),
            (a, b) => new LossCase(a.Item1, a.Item2, element, a.Item3, a.Item4, a.Item5, a.Item6,
                a.Item1 == LossKind.Nll ? 0.0 : a.Item7, a.Item8, b.Item1, b.Item2, b.Item3, b.Item4));

    [Theory]
    [InlineData(ElementType.Double)]
    [InlineData(ElementType.Float)]
    [InlineData(ElementType.Half)]
    [InlineData(ElementType.BFloat16)]
    public void ClassTargets_MatchReference(ElementType element) =>
        Cases(element, LossKind.Nll, LossKind.CrossEntropy).Sample(Check, iter: 300);

    [Theory]
    [InlineData(ElementType.Double)]
    [InlineData(ElementType.Float)]
    [InlineData(ElementType.Half)]
    [InlineData(ElementType.BFloat16)]
    public void ProbabilityTargets_MatchReference(ElementType element) =>
        Cases(element, LossKind.CrossEntropyProbabilities).Sample(Check, iter: 150);

    /// <summary>Runs one case through the library and the reference and compares loss, gradient and total weight.</summary>
    internal static void Check(LossCase c)
    {
        switch (c.Element)
        {
            case ElementType.Double: CheckTyped<double>(c); break;
            case ElementType.Float: CheckTyped<float>(c); break;
            case ElementType.Half: CheckTyped<Half>(c); break;
            default: CheckTyped<BFloat16>(c); break;
        }
    }

    private static void CheckTyped<T>(LossCase c)
        where T : unmanaged
    {
        switch (c.TargetType)
        {
            case TargetType.Long: CheckTyped<T, long>(c); break;
            case TargetType.Int: CheckTyped<T, int>(c); break;
            default: CheckTyped<T, byte>(c); break;
        }
    }

    private static void CheckTyped<T, TTarget>(LossCase c)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        CaseData d = c.Data();
        T[] input = Numbers.Convert<T>(d.Input);
        T[] prob = Numbers.Convert<T>(d.Prob);
        T[] weight = d.Weight == null ? [] : Numbers.Convert<T>(d.Weight);
        T[] gradOutput = d.GradOutput == null ? [] : Numbers.Convert<T>(d.GradOutput);
        TTarget[] target = Numbers.Targets<TTarget>(d.Target);
        nint[] shape = Numbers.N(c.Shape);
        nint[] targetShape = Numbers.N(Numbers.TargetShape(c.Shape));

        // Sentinels show an output element the library forgot to write.
        T sentinel = Numbers.From<T>(12345);
        T[] loss = c.WantLoss ? Enumerable.Repeat(sentinel, (int)c.LossLength).ToArray() : [];
        T[] grad = c.WantGrad ? Enumerable.Repeat(sentinel, input.Length).ToArray() : [];

        double[] qInput = Numbers.ToDouble(input);
        double[]? qWeight = d.Weight == null ? null : Numbers.ToDouble(weight);
        double[]? qGradOutput = d.GradOutput == null ? null : Numbers.ToDouble(gradOutput);
        ReferenceResult expected, unreduced;
        T? totalWeight = null;
        switch (c.Kind)
        {
            case LossKind.Nll:
                totalWeight = Functional.NllLoss<T, TTarget>(input, shape, target, targetShape, loss, c.Reduction, weight, d.IgnoreIndex, grad, gradOutput);
                expected = ReferenceLoss.Nll(qInput, c.Shape, d.Target, qWeight, d.IgnoreIndex, c.Reduction, qGradOutput);
                unreduced = ReferenceLoss.Nll(qInput, c.Shape, d.Target, qWeight, d.IgnoreIndex, Reduction.None);
                break;
            case LossKind.CrossEntropy:
                Functional.CrossEntropy<T, TTarget>(input, shape, target, targetShape, loss, c.Reduction, weight, d.IgnoreIndex, c.Smoothing, grad, gradOutput);
                expected = ReferenceLoss.CrossEntropy(qInput, c.Shape, d.Target, qWeight, d.IgnoreIndex, c.Reduction, c.Smoothing, qGradOutput);
                unreduced = ReferenceLoss.CrossEntropy(qInput, c.Shape, d.Target, qWeight, d.IgnoreIndex, Reduction.None, c.Smoothing);
                break;
            default:
                Functional.CrossEntropy<T>(input, shape, prob, loss, c.Reduction, weight, c.Smoothing, grad, gradOutput, d.IgnoreIndex);
                double[] qProb = Numbers.ToDouble(prob);
                expected = ReferenceLoss.CrossEntropy(qInput, c.Shape, qProb, qWeight, c.Reduction, c.Smoothing, qGradOutput);
                unreduced = ReferenceLoss.CrossEntropy(qInput, c.Shape, qProb, qWeight, Reduction.None, c.Smoothing);
                break;
        }

        double tolerance = Numbers.Tolerance(c.Element);
        if (c.WantLoss && !IsSmoothedMeanOverZeroWeight(c, d, expected))
        {
            // A loss is log s − d_t with s ≥ 1: its rounding error is relative to 1 (or to the number of terms of a
            // sum), not to the loss, which can be tiny when the target's logit dominates.
            double scale = c.Reduction switch
            {
                Reduction.None => Math.Max(1, Numbers.MaxFiniteAbs(expected.Loss)),
                Reduction.Mean => Math.Max(1, Numbers.ReducedScale(unreduced, c.Reduction, expected.TotalWeight)),
                _ => Math.Max(c.Positions, Numbers.ReducedScale(unreduced, c.Reduction, expected.TotalWeight)),
            };
            Numbers.AssertClose(Numbers.Saturate<T>(expected.Loss), Numbers.ToDouble(loss), tolerance, "loss", scale, Numbers.Subnormal<T>());
        }

        if (c.WantGrad)
        {
            Numbers.AssertClose(Numbers.Saturate<T>(expected.GradInput), Numbers.ToDouble(grad), tolerance, "gradInput",
                GradientScale(c, expected, qWeight, qGradOutput, Numbers.ToDouble(prob)), Numbers.Subnormal<T>());
        }

        if (totalWeight is T tw)
        {
            Numbers.AssertClose([expected.TotalWeight], [Numbers.ToDouble(tw)], tolerance, "totalWeight", spacing: Numbers.Subnormal<T>());
        }
    }

    /// <summary>The size of the terms a gradient element is made of: g·(p_j·A − a_j) with A = Σ_k a_k, where g is the
    /// upstream gradient and |a| ≤ the largest weight (times Σ_c t'_c for probabilities). The terms can cancel to a
    /// small result, and the rounding error is relative to them: this is the absolute scale for the comparison.</summary>
    private static double GradientScale(LossCase c, ReferenceResult expected, double[]? weight, double[]? gradOutput, double[] prob)
    {
        double upstream = gradOutput == null ? 1 : Numbers.MaxFiniteAbs(gradOutput);
        if (c.Reduction == Reduction.Mean)
        {
            upstream /= expected.TotalWeight;
        }

        double terms = Math.Max(1, weight == null ? 1 : weight.Max());
        if (c.Kind == LossKind.CrossEntropyProbabilities)
        {
            double[] qs = new double[c.Positions];
            long d = c.Shape.Length <= 2 ? 1 : Numbers.Product(c.Shape[2..]);
            for (int i = 0; i < prob.Length; i++)
            {
                long n = i / (c.C * d), k = i / d % c.C, j = i % d;
                double smoothed = c.Smoothing > 0 ? prob[i] * (1 - c.Smoothing) + c.Smoothing / c.C : prob[i];
                qs[n * d + j] += (weight == null ? 1 : weight[k]) * smoothed;
            }

            terms *= Math.Max(1, qs.DefaultIfEmpty(0).Max());
        }

        double scale = upstream * terms;
        return double.IsFinite(scale) ? Math.Max(scale, Numbers.MaxFiniteAbs(expected.GradInput)) : Numbers.MaxFiniteAbs(expected.GradInput);
    }

    /// <summary>A smoothed mean whose total weight is 0 while some targets are live (they all have weight 0): PyTorch
    /// gives NaN (its NLL term is 0/0), Xent +∞ — see EdgeCaseTests.SmoothedMeanOverZeroTotalWeight_IsNaN.</summary>
    private static bool IsSmoothedMeanOverZeroWeight(LossCase c, CaseData d, ReferenceResult expected) =>
        c.Kind == LossKind.CrossEntropy && c.Reduction == Reduction.Mean && c.Smoothing > 0 &&
        expected.TotalWeight == 0 && d.Target.Any(t => t != d.IgnoreIndex);

    // ---- LogSoftmax and the other entry points ----

    [Theory]
    [InlineData(ElementType.Double)]
    [InlineData(ElementType.Float)]
    [InlineData(ElementType.Half)]
    [InlineData(ElementType.BFloat16)]
    public void LogSoftmax_AnyDim_MatchesReference(ElementType element)
    {
        Gen<(long[] Shape, int Dim, int Seed)> gen =
            Gen.Int[1, 4].SelectMany(rank => Gen.Int[1, 9].Array[rank])
                .SelectMany(dims => Gen.Select(Gen.Const(dims.Select(v => (long)v).ToArray()), Gen.Int[-dims.Length, dims.Length - 1], Gen.Int));
        gen.Sample((shape, dim, seed) =>
        {
            double[] data = Numbers.Gaussian(new Random(seed), Numbers.Product(shape), 5);
            switch (element)
            {
                case ElementType.Double: CheckLogSoftmax<double>(data, shape, dim, element); break;
                case ElementType.Float: CheckLogSoftmax<float>(data, shape, dim, element); break;
                case ElementType.Half: CheckLogSoftmax<Half>(data, shape, dim, element); break;
                default: CheckLogSoftmax<BFloat16>(data, shape, dim, element); break;
            }
        }, iter: 150);
    }

    private static void CheckLogSoftmax<T>(double[] data, long[] shape, int dim, ElementType element)
        where T : unmanaged
    {
        T[] input = Numbers.Convert<T>(data);
        T[] output = new T[input.Length];
        Functional.LogSoftmax<T>(input, Numbers.N(shape), dim, output);
        double[] expected = ReferenceLoss.LogSoftmax(Numbers.ToDouble(input), shape, dim);
        Numbers.AssertClose(expected, Numbers.ToDouble(output), Numbers.Tolerance(element), "logSoftmax");
    }

    /// <summary>The fixed 2-D float entry points are the generic calls on (N, C) with (N): the same bits.</summary>
    [Fact]
    public void FixedFloatEntryPoints_EqualTheGenericCalls()
    {
        Gen.Select(Gen.Int[0, 8], Gen.Int[1, 40], Gen.Bool, Gen.Int[0, 3], s_smoothing, Gen.Int)
            .Sample((n, c, weighted, ignoreKind, smoothing, seed) =>
            {
                var random = new Random(seed);
                float[] input = Numbers.Convert<float>(Numbers.Gaussian(random, n * c, 3));
                long ignoreIndex = ignoreKind switch { 0 => -100, 1 => -1, 2 => random.Next(c), _ => c + 1 };
                long[] target = Enumerable.Range(0, n).Select(_ => random.Next(4) == 0 ? ignoreIndex : random.Next(c)).ToArray();
                float[] weight = weighted ? Enumerable.Range(0, c).Select(_ => (float)random.NextDouble()).ToArray() : [];
                foreach (Reduction reduction in new[] { Reduction.Mean, Reduction.Sum })
                {
                    float[] grad = new float[n * c], genericGrad = new float[n * c], genericLoss = new float[1];
                    float ce = Functional.CrossEntropy(input, c, target, grad, reduction, weight, ignoreIndex, (float)smoothing);
                    Functional.CrossEntropy<float, long>(input, [n, c], target, [n], genericLoss, reduction, weight, ignoreIndex,
                        (float)smoothing, genericGrad);
                    Assert.Equal(genericLoss[0], ce);
                    Assert.Equal(genericGrad, grad);

                    float nll = Functional.NllLoss(input, c, target, grad, reduction, weight, ignoreIndex);
                    Functional.NllLoss<float, long>(input, [n, c], target, [n], genericLoss, reduction, weight, ignoreIndex, genericGrad);
                    Assert.Equal(genericLoss[0], nll);
                    Assert.Equal(genericGrad, grad);
                }
            }, iter: 100);
    }

    /// <summary>MindSpore's NllLossWithTotalWeight is the reduced NLL and its total weight.</summary>
    [Fact]
    public void NllLossWithTotalWeight_MatchesReference()
    {
        Gen.Select(s_shape, Gen.Bool, Gen.Int[0, 3], Gen.Bool, Gen.Int).Sample((shape, weighted, ignoreKind, sum, seed) =>
        {
            var c = new LossCase(LossKind.Nll, shape, ElementType.Double, TargetType.Long, sum ? Reduction.Sum : Reduction.Mean,
                weighted ? 2 : 0, ignoreKind, 0, 0, true, false, 1, seed);
            CaseData d = c.Data();
            (double loss, double totalWeight) = Functional.NllLossWithTotalWeight<double, long>(d.Input, Numbers.N(shape), d.Target,
                d.Weight ?? [], c.Reduction, d.IgnoreIndex);
            ReferenceResult expected = ReferenceLoss.Nll(d.Input, shape, d.Target, d.Weight, d.IgnoreIndex, c.Reduction);
            Numbers.AssertClose(expected.Loss, [loss], 1e-10, "loss",
                Numbers.ReducedScale(ReferenceLoss.Nll(d.Input, shape, d.Target, d.Weight, d.IgnoreIndex, Reduction.None), c.Reduction, expected.TotalWeight));
            Assert.Equal(expected.TotalWeight, totalWeight, 1e-12);
        }, iter: 100);
    }

    // ---- Finite differences (double) ----

    /// <summary>∂(Σ gradOutput·loss)/∂input by central differences of the library's own forward, against its gradient:
    /// cross-entropy with class targets (weights, smoothing, ignored positions, K-dim), each reduction.</summary>
    [Theory]
    [InlineData(Reduction.None)]
    [InlineData(Reduction.Mean)]
    [InlineData(Reduction.Sum)]
    public void CrossEntropy_Gradient_MatchesFiniteDifferences(Reduction reduction)
    {
        long[] shape = [3, 5, 2];
        long[] target = [0, 4, 2, 2, 3, 1];
        double[] weight = [0.5, 1.5, 1.0, 0.25, 2.0];
        CheckFiniteDifferences(shape, reduction, seed: 11, (x, loss, grad, gradOutput) =>
            Functional.CrossEntropy<double, long>(x, Numbers.N(shape), target, [3, 2], loss, reduction, weight, ignoreIndex: 2,
                labelSmoothing: 0.3, grad, gradOutput));
    }

    [Theory]
    [InlineData(Reduction.None)]
    [InlineData(Reduction.Mean)]
    [InlineData(Reduction.Sum)]
    public void CrossEntropyProbabilities_Gradient_MatchesFiniteDifferences(Reduction reduction)
    {
        long[] shape = [2, 4, 3];
        double[] prob = Enumerable.Range(0, 24).Select(i => (i * 7 % 11) / 10.0).ToArray();
        double[] weight = [1.0, 0.5, 2.0, 0.75];
        CheckFiniteDifferences(shape, reduction, seed: 12, (x, loss, grad, gradOutput) =>
            Functional.CrossEntropy<double>(x, Numbers.N(shape), prob, loss, reduction, weight, 0.2, grad, gradOutput));
    }

    [Theory]
    [InlineData(Reduction.None)]
    [InlineData(Reduction.Mean)]
    [InlineData(Reduction.Sum)]
    public void Nll_Gradient_MatchesFiniteDifferences(Reduction reduction)
    {
        long[] shape = [4, 3];
        long[] target = [0, 2, -100, 1];
        double[] weight = [0.5, 1.5, 3.0];
        CheckFiniteDifferences(shape, reduction, seed: 13, (x, loss, grad, gradOutput) =>
            Functional.NllLoss<double, long>(x, Numbers.N(shape), target, [4], loss, reduction, weight, -100, grad, gradOutput));
    }

    private delegate void LossCall(double[] input, double[] loss, double[] gradInput, double[] gradOutput);

    private static void CheckFiniteDifferences(long[] shape, Reduction reduction, int seed, LossCall call)
    {
        var random = new Random(seed);
        double[] x = Numbers.Gaussian(random, Numbers.Product(shape), 2);
        int lossLength = (int)Numbers.LossLength(shape, reduction);
        double[] gradOutput = Enumerable.Range(0, lossLength).Select(_ => random.NextDouble() + 0.5).ToArray();

        double Objective(double[] input)
        {
            double[] loss = new double[lossLength];
            call(input, loss, [], gradOutput);
            double f = 0;
            for (int i = 0; i < lossLength; i++)
            {
                f += gradOutput[i] * loss[i];
            }

            return f;
        }

        double[] grad = new double[x.Length];
        call(x, new double[lossLength], grad, gradOutput);
        const double h = 1e-6;
        double[] numeric = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double saved = x[i];
            x[i] = saved + h;
            double up = Objective(x);
            x[i] = saved - h;
            double down = Objective(x);
            x[i] = saved;
            numeric[i] = (up - down) / (2 * h);
        }

        Numbers.AssertClose(numeric, grad, 1e-7, "gradInput vs finite differences");
        Assert.Contains(grad, v => Math.Abs(v) > 1e-3);
    }

    /// <summary>The reference's own gradient agrees with finite differences of the reference's forward, so the two
    /// halves of the reference vouch for each other.</summary>
    [Fact]
    public void Reference_Gradient_MatchesItsFiniteDifferences()
    {
        var random = new Random(21);
        long[] shape = [2, 6, 3];
        double[] x = Numbers.Gaussian(random, 36, 2);
        long[] target = [0, 5, 3, -100, 2, 1];
        double[] weight = [1, 2, 0, 0.5, 1.5, 1];
        double[] prob = Enumerable.Range(0, 36).Select(_ => random.NextDouble()).ToArray();
        Func<double[], ReferenceResult>[] calls =
        [
            input => ReferenceLoss.CrossEntropy(input, shape, target, weight, -100, Reduction.Mean, 0.4, [0.7]),
            input => ReferenceLoss.CrossEntropy(input, shape, prob, weight, Reduction.Sum, 0.1, [1.3]),
            input => ReferenceLoss.Nll(input, shape, target, weight, -100, Reduction.Mean, [0.9]),
        ];
        double[] upstream = [0.7, 1.3, 0.9];
        for (int k = 0; k < calls.Length; k++)
        {
            double[] analytic = calls[k](x).GradInput;
            double[] numeric = new double[x.Length];
            for (int i = 0; i < x.Length; i++)
            {
                double saved = x[i];
                x[i] = saved + 1e-6;
                double up = calls[k](x).Loss[0];
                x[i] = saved - 1e-6;
                double down = calls[k](x).Loss[0];
                x[i] = saved;
                numeric[i] = upstream[k] * (up - down) / 2e-6;
            }

            Numbers.AssertClose(numeric, analytic, 1e-7, $"reference call {k}");
        }
    }

    // ---- Every class count, a large vocabulary ----

    /// <summary>Every class count 1..130 runs every vector remainder path of the row kernels (512/256/128/scalar),
    /// in 2-D (contiguous rows) and 3-D (gathered tiles).</summary>
    [Theory]
    [InlineData(ElementType.Double)]
    [InlineData(ElementType.Float)]
    [InlineData(ElementType.Half)]
    [InlineData(ElementType.BFloat16)]
    public void EveryClassCount_1To130_MatchesReference(ElementType element)
    {
        for (int c = 1; c <= 130; c++)
        {
            foreach (long[] shape in new[] { new long[] { 3, c }, [2, c, 3] })
            {
                var ce = new LossCase(LossKind.CrossEntropy, shape, element, TargetType.Long, Reduction.Mean, 1, 2, 0.1, 1, true, true, 4, c);
                Check(ce);
                Check(ce with { Kind = LossKind.CrossEntropyProbabilities, IgnoreKind = 0, Reduction = Reduction.None });
                Check(ce with { Kind = LossKind.Nll, Smoothing = 0, Reduction = Reduction.Sum });
            }
        }
    }

    /// <summary>A 50 000-word vocabulary: long rows, one of them ignored, smoothing and weights.</summary>
    [Theory]
    [InlineData(ElementType.Float)]
    [InlineData(ElementType.BFloat16)]
    public void LargeVocabulary_4x50000_MatchesReference(ElementType element)
    {
        var ce = new LossCase(LossKind.CrossEntropy, [4, 50000], element, TargetType.Long, Reduction.Mean, 1, 2, 0.1, 0, true, true, 4, 7);
        Check(ce);
        Check(ce with { Reduction = Reduction.None, Smoothing = 0, GradOutputKind = 1 });
    }

    // ---- Determinism across thread counts ----

    [Fact]
    public void Results_AreBitIdentical_ForAnyDegreeOfParallelism()
    {
        var random = new Random(5);
        float[] rows = Numbers.Convert<float>(Numbers.Gaussian(random, 512 * 2000, 3));
        long[] rowTargets = Enumerable.Range(0, 512).Select(i => i % 7 == 0 ? -100L : random.Next(2000)).ToArray();
        float[] rowProb = Enumerable.Range(0, 512 * 2000).Select(_ => (float)random.NextDouble()).ToArray();
        float[] rowWeight = Enumerable.Range(0, 2000).Select(_ => (float)random.NextDouble()).ToArray();
        float[] image = Numbers.Convert<float>(Numbers.Gaussian(random, 4 * 21 * 64 * 64, 3));
        int[] imageTargets = Enumerable.Range(0, 4 * 64 * 64).Select(i => i % 11 == 0 ? 255 : random.Next(21)).ToArray();
        Half[] halfRows = Numbers.Convert<Half>(Numbers.ToDouble(rows));

        List<byte[]> Run()
        {
            var results = new List<byte[]>();
            void Add<T>(T[] values) where T : unmanaged =>
                results.Add(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

            foreach (Reduction reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
            {
                float[] loss = new float[reduction == Reduction.None ? 512 : 1], grad = new float[rows.Length];
                Functional.CrossEntropy<float, long>(rows, [512, 2000], rowTargets, [512], loss, reduction, rowWeight, -100, 0.1, grad);
                Add(loss);
                Add(grad);

                Functional.NllLoss<float, long>(rows, [512, 2000], rowTargets, [512], loss, reduction, rowWeight, -100, grad);
                Add(loss);
                Add(grad);

                Functional.CrossEntropy<float>(rows, [512, 2000], rowProb, loss, reduction, default, 0.05, grad);
                Add(loss);
                Add(grad);

                float[] imageLoss = new float[reduction == Reduction.None ? 4 * 64 * 64 : 1], imageGrad = new float[image.Length];
                Functional.CrossEntropy<float, int>(image, [4, 21, 64, 64], imageTargets, [4, 64, 64], imageLoss, reduction, default, 255, 0, imageGrad);
                Add(imageLoss);
                Add(imageGrad);

                Half[] halfLoss = new Half[reduction == Reduction.None ? 512 : 1], halfGrad = new Half[rows.Length];
                Functional.CrossEntropy<Half, long>(halfRows, [512, 2000], rowTargets, [512], halfLoss, reduction, default, -100, 0, halfGrad);
                Add(halfLoss);
                Add(halfGrad);
            }

            float[] logSoftmax = new float[image.Length];
            Functional.LogSoftmax<float>(image, [4, 21, 64, 64], 1, logSoftmax);
            Add(logSoftmax);
            return results;
        }

        List<byte[]> serial = Threads.Run(1, Run);
        foreach (int degree in new[] { 2, 8 })
        {
            List<byte[]> parallel = Threads.Run(degree, Run);
            for (int i = 0; i < serial.Count; i++)
            {
                Assert.True(serial[i].AsSpan().SequenceEqual(parallel[i]), $"result {i} differs between 1 and {degree} threads");
            }
        }

        // The serial results are right, too: the K-dim mean against the reference.
        float[] mean = new float[1];
        Functional.CrossEntropy<float, int>(image, [4, 21, 64, 64], imageTargets, [4, 64, 64], mean, Reduction.Mean, default, 255);
        double expected = ReferenceLoss.CrossEntropy(Numbers.ToDouble(image), [4, 21, 64, 64], Array.ConvertAll(imageTargets, t => (long)t),
            null, 255).Loss[0];
        Assert.Equal(expected, mean[0], 1e-5 * expected);
    }
}
