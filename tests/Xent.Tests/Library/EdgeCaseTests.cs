using Xent.Tests.Reference;

namespace Xent.Tests.Library;

/// <summary>Edge cases, each with what PyTorch returns written in the test (float64 values from libtorch 2.10 through
/// TorchSharp 0.107 unless the test says otherwise), and the places where Xent deliberately differs.</summary>
public class EdgeCaseTests
{
    private const double Inf = double.PositiveInfinity;

    private static (double[] Loss, double[] Grad) CrossEntropy(double[] input, long[] shape, long[] target,
        Reduction reduction = Reduction.Mean, double[]? weight = null, long ignoreIndex = -100, double labelSmoothing = 0)
    {
        double[] loss = new double[Numbers.LossLength(shape, reduction)];
        double[] grad = new double[input.Length];
        Functional.CrossEntropy<double, long>(input, Numbers.N(shape), target, Numbers.N(Numbers.TargetShape(shape)), loss,
            reduction, weight ?? [], ignoreIndex, labelSmoothing, grad);
        return (loss, grad);
    }

    private static void Equal(double[] expected, double[] actual, double tolerance = 1e-12) =>
        Numbers.AssertClose(expected, actual, tolerance, "value", 0);

    // ---- Empty batch ----

    [Fact]
    public void EmptyBatch_MeanIsNaN_SumIsZero_NoneIsEmpty()
    {
        Assert.True(double.IsNaN(CrossEntropy([], [0, 3], [], Reduction.Mean).Loss[0]));
        Assert.Equal(0.0, CrossEntropy([], [0, 3], [], Reduction.Sum).Loss[0]);
        Assert.Empty(CrossEntropy([], [0, 3], [], Reduction.None).Loss);

        // K-dim with an empty spatial dimension, NLL, and the total weight.
        Assert.True(double.IsNaN(CrossEntropy([], [2, 3, 0], [], Reduction.Mean).Loss[0]));
        float[] loss = new float[1];
        float totalWeight = Functional.NllLoss<float, long>([], [0, 4], [], [0], loss, Reduction.Mean);
        Assert.True(float.IsNaN(loss[0]));
        Assert.Equal(0f, totalWeight);
        Assert.Equal(0f, Functional.NllLoss(ReadOnlySpan<float>.Empty, 4, [], default, Reduction.Sum));
        Assert.True(float.IsNaN(Functional.CrossEntropy(ReadOnlySpan<float>.Empty, 4, [], default)));
    }

    [Fact]
    public void EmptyBatch_ProbabilityTargets_MeanIsNaN_SumIsZero()
    {
        double[] mean = new double[1], sum = new double[1];
        Functional.CrossEntropy<double>([], [0, 3], [], mean, Reduction.Mean);
        Functional.CrossEntropy<double>([], [0, 3], [], sum, Reduction.Sum);
        Assert.True(double.IsNaN(mean[0]));
        Assert.Equal(0.0, sum[0]);
    }

    // ---- Ignored positions ----

    [Fact]
    public void AllIgnored_MeanIsNaN_SumIsZero_GradientIsZero()
    {
        double[] input = [1, 2, 3, 4];
        (double[] mean, double[] meanGrad) = CrossEntropy(input, [2, 2], [-100, -100], Reduction.Mean);
        (double[] sum, double[] sumGrad) = CrossEntropy(input, [2, 2], [-100, -100], Reduction.Sum);
        (double[] none, double[] noneGrad) = CrossEntropy(input, [2, 2], [-100, -100], Reduction.None);

        Assert.True(double.IsNaN(mean[0]));
        Assert.Equal([0.0], sum);
        Assert.Equal([0.0, 0.0], none);
        Assert.Equal(new double[4], meanGrad);
        Assert.Equal(new double[4], sumGrad);
        Assert.Equal(new double[4], noneGrad);

        // A 1-D input whose one target is ignored: the mean is 0/0 too.
        Assert.True(double.IsNaN(CrossEntropy([1, 2, 3], [3], [1], ignoreIndex: 1).Loss[0]));
        Assert.Equal([0.0], CrossEntropy([1, 2, 3], [3], [1], Reduction.None, ignoreIndex: 1).Loss);
    }

    /// <summary>PyTorch gives this row's loss 0 but its gradient NaN (log_softmax's backward multiplies the zero
    /// incoming gradient's sum by exp(NaN)); Xent gives the ignored row gradient 0 as well — a deliberate improvement.
    /// The other row is PyTorch's exactly.</summary>
    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void NonFiniteLogitsInAnIgnoredRow_GiveLossZeroAndGradientZero(double bad)
    {
        double[] input = [bad, 1, bad, 0, 1, 2];
        (double[] mean, double[] grad) = CrossEntropy(input, [2, 3], [-100, 1]);
        Assert.Equal(1.4076059644443804, mean[0], 1e-15);
        Equal([0, 0, 0, 0.09003057317038046, -0.7552715289452782, 0.6652409557748219], grad);

        (double[] none, _) = CrossEntropy(input, [2, 3], [-100, 1], Reduction.None, labelSmoothing: 0.3);
        Assert.Equal(0.0, none[0]);
        Assert.True(double.IsFinite(none[1]));

        // NLL never reads an ignored row.
        double[] nllLoss = new double[2], nllGrad = new double[6];
        Functional.NllLoss<double, long>(input, [2, 3], [-100, 1], [2], nllLoss, Reduction.None, gradInput: nllGrad);
        Assert.Equal([0.0, -1.0], nllLoss);
        Assert.Equal([0.0, 0, 0, 0, -1, 0], nllGrad);

        // The same in float, in a K-dim layout (gathered tiles) and in Half.
        float[] image = [(float)bad, 0, 1, 1, (float)bad, 2];
        float[] imageLoss = new float[2], imageGrad = new float[6];
        Functional.CrossEntropy<float, long>(image, [1, 3, 2], [-100, 1], [1, 2], imageLoss, Reduction.None, gradInput: imageGrad);
        Assert.Equal(0f, imageLoss[0]);
        Assert.Equal(1.4076059f, imageLoss[1], 1e-6f);
        Assert.Equal(0f, imageGrad[0]);
        Assert.Equal(0f, imageGrad[2]);
        Assert.Equal(0f, imageGrad[4]);

        Half[] half = Array.ConvertAll(input, v => (Half)v);
        Half[] halfGrad = new Half[6];
        Functional.CrossEntropy<Half, long>(half, [2, 3], [-100, 1], [2], default, Reduction.Sum, gradInput: halfGrad);
        Assert.Equal([Half.Zero, Half.Zero, Half.Zero], halfGrad[..3]);
    }

    // ---- Non-finite and extreme logits ----

    [Fact]
    public void PositiveInfinityLogit_GivesNaNForItsRowOnly()
    {
        (double[] loss, double[] grad) = CrossEntropy([Inf, 1, 2, 0, 1, 2], [2, 3], [0, 1], Reduction.None);
        Assert.True(double.IsNaN(loss[0]));
        Assert.Equal(1.4076059644443804, loss[1], 1e-15);
        Assert.All(grad[..3], v => Assert.True(double.IsNaN(v)));
        Equal([0.09003057317038046, -0.7552715289452782, 0.6652409557748219], grad[3..]);

        // A NaN logit does the same, and poisons a reduced loss.
        Assert.True(double.IsNaN(CrossEntropy([double.NaN, 1, 2, 0, 1, 2], [2, 3], [1, 1]).Loss[0]));
    }

    [Fact]
    public void NegativeInfinity_InANonTargetLogit_IsFinite()
    {
        (double[] loss, double[] grad) = CrossEntropy([-Inf, 1, 2], [1, 3], [1], Reduction.None);
        Assert.Equal(1.3132616875182228, loss[0], 1e-15);
        Equal([0, -0.7310585786300049, 0.7310585786300049], grad);

        // With smoothing the uniform term sees log p = −∞: PyTorch's loss is +∞, its gradient stays finite.
        (double[] smoothed, double[] smoothedGrad) = CrossEntropy([-Inf, 1, 2], [1, 3], [1], Reduction.None, labelSmoothing: 0.1);
        Assert.Equal(Inf, smoothed[0]);
        Equal([-0.03333333333333333, -0.6643919119633382, 0.6977252452966716], smoothedGrad, 1e-9);

        // −∞ at the target: loss +∞, gradient finite; every logit −∞: NaN.
        (double[] atTarget, double[] atTargetGrad) = CrossEntropy([-Inf, 1, 2], [1, 3], [0], Reduction.None);
        Assert.Equal(Inf, atTarget[0]);
        Equal([-1, 0.2689414213699951, 0.7310585786300049], atTargetGrad);
        Assert.True(double.IsNaN(CrossEntropy([-Inf, -Inf, -Inf], [1, 3], [0], Reduction.None).Loss[0]));
    }

    [Theory]
    [InlineData(ElementType.Double)]
    [InlineData(ElementType.Float)]
    public void HugeLogits_StayFinite(ElementType element)
    {
        double[] input = [1e4, -1e4, 0, 1e30, -1e30, 5];
        double[] expectedLoss = [20000, 2e30];
        double[] expectedGrad = [1, -1, 0, 1, -1, 0];
        double[] expectedSmoothedLoss = [18000, 1.8e30];
        double[] expectedSmoothedGrad = [0.9333333333333333, -0.8666666666666667, -0.06666666666666667, 0.9333333333333333, -0.8666666666666667, -0.06666666666666667];
        double tolerance = Numbers.Tolerance(element);
        if (element == ElementType.Double)
        {
            Equal(expectedLoss, CrossEntropy(input, [2, 3], [1, 1], Reduction.None).Loss, tolerance);
            Equal(expectedGrad, CrossEntropy(input, [2, 3], [1, 1], Reduction.None).Grad, tolerance);
            Equal(expectedSmoothedLoss, CrossEntropy(input, [2, 3], [1, 1], Reduction.None, labelSmoothing: 0.2).Loss, tolerance);
            Equal(expectedSmoothedGrad, CrossEntropy(input, [2, 3], [1, 1], Reduction.None, labelSmoothing: 0.2).Grad, tolerance);
            return;
        }

        float[] x = Numbers.Convert<float>(input);
        foreach ((double eps, double[] loss, double[] grad) in new[] { (0.0, expectedLoss, expectedGrad), (0.2, expectedSmoothedLoss, expectedSmoothedGrad) })
        {
            float[] l = new float[2], g = new float[6];
            Functional.CrossEntropy<float, long>(x, [2, 3], [1, 1], [2], l, Reduction.None, labelSmoothing: eps, gradInput: g);
            Numbers.AssertClose(loss, Numbers.ToDouble(l), tolerance, "loss");
            Numbers.AssertClose(grad, Numbers.ToDouble(g), tolerance, "grad", 1);

            // The reference on the same floats agrees too.
            ReferenceResult r = ReferenceLoss.CrossEntropy(Numbers.ToDouble(x), [2, 3], [1, 1], reduction: Reduction.None, labelSmoothing: eps);
            Numbers.AssertClose(r.Loss, Numbers.ToDouble(l), tolerance, "loss vs reference");
        }
    }

    /// <summary>Half holds ±1e4: the loss 20000 is exact in Half.</summary>
    [Fact]
    public void LargeLogits_InHalf()
    {
        Half[] x = [(Half)10000, (Half)(-10000), Half.Zero];
        Half[] loss = new Half[1], grad = new Half[3];
        Functional.CrossEntropy<Half, long>(x, [1, 3], [1], [1], loss, Reduction.Sum, gradInput: grad);
        Assert.Equal((Half)20000, loss[0]);
        Assert.Equal([(Half)1, (Half)(-1), Half.Zero], grad);
    }

    // ---- Single class, zero weights, smoothing 0 and 1 ----

    [Fact]
    public void SingleClass_LossAndGradientAreZero()
    {
        foreach (double eps in new[] { 0.0, 0.5, 1.0 })
        {
            (double[] loss, double[] grad) = CrossEntropy([3.5, -2, 1e30], [3, 1], [0, 0, 0], Reduction.None, labelSmoothing: eps);
            Assert.Equal([0.0, 0, 0], loss);
            Assert.Equal([0.0, 0, 0], grad);
        }

        // NLL with one class is just −x.
        double[] nll = new double[3];
        Functional.NllLoss<double, long>([3.5, -2, 7], [3, 1], [0, 0, 0], [3], nll, Reduction.None);
        Assert.Equal([-3.5, 2, -7], nll);
    }

    [Fact]
    public void ZeroWeights_MeanIsNaN()
    {
        // PyTorch: loss NaN and every gradient NaN (−w_t·grad/0 = 0·∞); the sum is 0 with a zero gradient.
        (double[] mean, double[] meanGrad) = CrossEntropy([1, 2, 3, 4], [2, 2], [0, 0], Reduction.Mean, weight: [0, 1]);
        Assert.True(double.IsNaN(mean[0]));
        Assert.All(meanGrad, v => Assert.True(double.IsNaN(v)));

        (double[] sum, double[] sumGrad) = CrossEntropy([1, 2, 3, 4], [2, 2], [0, 0], Reduction.Sum, weight: [0, 1]);
        Assert.Equal([0.0], sum);
        Assert.Equal(new double[4], sumGrad);

        double[] nll = new double[1];
        double totalWeight = Functional.NllLoss<double, long>([1, 2, 3, 4], [2, 2], [0, 0], [2], nll, Reduction.Mean, [0, 1]);
        Assert.True(double.IsNaN(nll[0]));
        Assert.Equal(0.0, totalWeight);
    }

    /// <summary>Every live target has weight 0 but other classes do not: PyTorch reduces the NLL term and the smoothing
    /// term apart, and its NLL mean is 0/0 = NaN, so the loss is NaN (its gradient is NaN too, which Xent matches).</summary>
    [Fact]
    public void SmoothedMeanOverZeroTotalWeight_IsNaN()
    {
        (double[] loss, double[] grad) = CrossEntropy([1, 2, 3, 4], [2, 2], [0, 0], Reduction.Mean, weight: [0, 1], labelSmoothing: 0.2);
        Assert.True(double.IsNaN(loss[0]), $"loss {loss[0]}");
        Assert.All(grad, v => Assert.True(double.IsNaN(v)));
    }

    [Fact]
    public void SmoothedMeanOverZeroTotalWeight_GradientIsNaN()
    {
        (_, double[] grad) = CrossEntropy([1, 2, 3, 4], [2, 2], [0, 0], Reduction.Mean, weight: [0, 1], labelSmoothing: 0.2);
        Assert.All(grad, v => Assert.True(double.IsNaN(v)));
    }

    [Fact]
    public void LabelSmoothing_ZeroIsNoSmoothing_OneIsTheUniformTermAlone()
    {
        double[] input = [1, 2, 3, 4];
        (double[] plain, double[] plainGrad) = CrossEntropy(input, [2, 2], [0, 1]);
        (double[] zero, double[] zeroGrad) = CrossEntropy(input, [2, 2], [0, 1], labelSmoothing: 0);
        Assert.Equal(plain, zero);
        Assert.Equal(plainGrad, zeroGrad);

        // ε = 1: the target no longer matters; PyTorch gives 0.8132616875182228 and these gradients.
        (double[] one, double[] oneGrad) = CrossEntropy(input, [2, 2], [0, 1], labelSmoothing: 1);
        (double[] other, double[] otherGrad) = CrossEntropy(input, [2, 2], [1, 0], labelSmoothing: 1);
        Assert.Equal(0.8132616875182228, one[0], 1e-15);
        Equal([-0.11552928931500245, 0.11552928931500245, -0.11552928931500245, 0.11552928931500245], oneGrad);
        Assert.Equal(one[0], other[0], 1e-15);
        Equal(oneGrad, otherGrad);

        // ... and it is the cross-entropy against the uniform distribution.
        double[] uniform = new double[1];
        Functional.CrossEntropy<double>(input, [2, 2], [0.5, 0.5, 0.5, 0.5], uniform);
        Assert.Equal(uniform[0], one[0], 1e-15);
    }

    // ---- Half overflow ----

    /// <summary>60000 is a Half; PyTorch (float16, computed in float32 inside) gives loss 60000 and, for two tied
    /// 60000 logits, gradient [0.5, 0.5, −1].</summary>
    [Fact]
    public void HalfLogitsOf60000_AreComputedInFloat()
    {
        Half[] loss = new Half[1];
        Functional.CrossEntropy<Half, long>([(Half)60000, Half.Zero, (Half)(-60000), Half.One], [1, 4], [1], [1], loss, Reduction.None);
        Assert.Equal((Half)60000, loss[0]);

        Half[] grad = new Half[3];
        Functional.CrossEntropy<Half, long>([(Half)60000, (Half)60000, Half.One], [1, 3], [2], [1], loss, Reduction.Sum, gradInput: grad);
        Assert.Equal((Half)60000, loss[0]);
        Assert.Equal([(Half)0.5, (Half)0.5, (Half)(-1)], grad);
    }

    [Fact]
    public void HalfLossBeyond65504_IsInfinity_ButAFloatMeanOfLargeLossesIsNot()
    {
        // 60000 − (−60000) = 120000 does not fit in Half: +∞, as PyTorch's float result cast to float16.
        Half[] none = new Half[1];
        Functional.CrossEntropy<Half, long>([(Half)60000, (Half)(-60000)], [1, 2], [1], [1], none, Reduction.None);
        Assert.Equal(Half.PositiveInfinity, none[0]);

        // Two losses of 60000: their sum overflows Half but Xent accumulates in float32, so the mean is 60000
        // (Xent's choice; a float16 accumulator would give +∞).
        Half[] mean = new Half[1];
        Functional.CrossEntropy<Half, long>([(Half)30000, (Half)(-30000), (Half)30000, (Half)(-30000)], [2, 2], [1, 1], [2], mean);
        Assert.Equal((Half)60000, mean[0]);
    }

    // ---- Loss-only and gradient-only calls ----

    [Fact]
    public void LossOnly_GradientOnly_AndNeither_AgreeWithTheFullCall()
    {
        double[] input = Numbers.Gaussian(new Random(8), 24, 2);
        long[] target = [0, 3, -100, 2, 1, 3];
        double[] fullLoss = new double[6], fullGrad = new double[24], loss = new double[6], grad = new double[24];
        Functional.CrossEntropy<double, long>(input, [2, 4, 3], target, [2, 3], fullLoss, Reduction.None, [], -100, 0.1, fullGrad);
        Functional.CrossEntropy<double, long>(input, [2, 4, 3], target, [2, 3], loss, Reduction.None, [], -100, 0.1);
        Functional.CrossEntropy<double, long>(input, [2, 4, 3], target, [2, 3], default, Reduction.None, [], -100, 0.1, grad);
        Functional.CrossEntropy<double, long>(input, [2, 4, 3], target, [2, 3], default, Reduction.None, [], -100, 0.1);
        Assert.Equal(fullLoss, loss);
        Assert.Equal(fullGrad, grad);
    }

    /// <summary>Each row's gradient is scaled by its own upstream value, and a NaN upstream value at an ignored
    /// position stays out of the gradient (the row is skipped, so 0·NaN never happens).</summary>
    [Fact]
    public void PerPositionGradOutput_ScalesEachRow_AndSkipsIgnoredRows()
    {
        double[] input = [1, 2, 3, 4, 5, 6];
        double[] grad = new double[6];
        Functional.CrossEntropy<double, long>(input, [2, 3], [0, -100], [2], default, Reduction.None, gradInput: grad,
            gradOutput: [2.0, double.NaN]);
        ReferenceResult r = ReferenceLoss.CrossEntropy(input, [2, 3], [0, -100], reduction: Reduction.None, gradOutput: [2.0, double.NaN]);
        Equal(r.GradInput, grad);
        Assert.Equal([0.0, 0, 0], grad[3..]);
        Assert.Equal(2 * (Math.Exp(ReferenceLoss.LogSoftmaxRow([1, 2, 3])[0]) - 1), grad[0], 1e-12);
    }

    // ---- LogSoftmax ----

    [Fact]
    public void LogSoftmax_EdgeCases()
    {
        double[] scalar = new double[1];
        Functional.LogSoftmax<double>([5.0], [], 0, scalar);
        Assert.Equal([0.0], scalar);

        double[] row = new double[3];
        Functional.LogSoftmax<double>([double.NaN, 1, 2], [3], 0, row);
        Assert.All(row, v => Assert.True(double.IsNaN(v)));
        Functional.LogSoftmax<double>([Inf, 1, 2], [3], -1, row);
        Assert.All(row, v => Assert.True(double.IsNaN(v)));
        Functional.LogSoftmax<double>([-Inf, 1, 2], [3], 0, row);
        Equal([-Inf, -1.3132616875182228, -0.31326168751822286], row, 1e-15);

        float[] big = new float[2];
        Functional.LogSoftmax<float>([1e30f, -1e30f], [2], 0, big);
        Assert.Equal([0f, -2e30f], big);
    }

    // ---- Reductions ----

    [Theory]
    [InlineData(null, null, Reduction.Mean)]
    [InlineData(null, true, Reduction.Mean)]
    [InlineData(null, false, Reduction.None)]
    [InlineData(true, null, Reduction.Mean)]
    [InlineData(true, true, Reduction.Mean)]
    [InlineData(true, false, Reduction.None)]
    [InlineData(false, null, Reduction.Sum)]
    [InlineData(false, true, Reduction.Sum)]
    [InlineData(false, false, Reduction.None)]
    public void FromLegacy_MapsAsTorchLegacyGetString(bool? sizeAverage, bool? reduce, Reduction expected) =>
        Assert.Equal(expected, Reductions.FromLegacy(sizeAverage, reduce));

    [Fact]
    public void Parse_AndToPyTorchString_RoundTrip()
    {
        foreach (Reduction r in Enum.GetValues<Reduction>())
        {
            Assert.Equal(r, Reductions.Parse(r.ToPyTorchString()));
        }

        Assert.Equal(Reduction.None, Reductions.Parse("none"));
        Assert.Equal(Reduction.Mean, Reductions.Parse("mean"));
        Assert.Equal(Reduction.Sum, Reductions.Parse("sum"));
        Assert.Equal(Reduction.Mean, Reductions.Parse("elementwise_mean"));   // deprecated, still taken by PyTorch 2.x
        foreach (string bad in new[] { "Mean", "", "elementwise", " sum" })
        {
            var ex = Assert.Throws<ArgumentException>(() => Reductions.Parse(bad));
            Assert.Equal("value", ex.ParamName);
            Assert.Equal($"{bad} is not a valid value for reduction (Parameter 'value')", ex.Message);
        }
    }

    // ---- BFloat16 ----

    [Fact]
    public void BFloat16_RoundsToNearest_TiesToEven()
    {
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
        Assert.Equal((ushort)0x3F80, ((BFloat16)BitConverter.UInt32BitsToSingle(0x3F80_8000)).RawValue);
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: goes up to even.
        Assert.Equal((ushort)0x3F82, ((BFloat16)BitConverter.UInt32BitsToSingle(0x3F81_8000)).RawValue);
        // Just above and below a tie.
        Assert.Equal((ushort)0x3F81, ((BFloat16)BitConverter.UInt32BitsToSingle(0x3F80_8001)).RawValue);
        Assert.Equal((ushort)0x3F80, ((BFloat16)BitConverter.UInt32BitsToSingle(0x3F80_7FFF)).RawValue);
        // Negative values round the same way on their magnitude.
        Assert.Equal((ushort)0xBF80, ((BFloat16)BitConverter.UInt32BitsToSingle(0xBF80_8000)).RawValue);
        Assert.Equal((ushort)0xBF82, ((BFloat16)BitConverter.UInt32BitsToSingle(0xBF81_8000)).RawValue);
        // The largest float rounds up to +∞; −0 stays −0; the smallest subnormal rounds to 0.
        Assert.Equal((ushort)0x7F80, ((BFloat16)float.MaxValue).RawValue);
        Assert.Equal((ushort)0x8000, ((BFloat16)(-0f)).RawValue);
        Assert.Equal((ushort)0x0000, ((BFloat16)float.Epsilon).RawValue);
        Assert.Equal(1.5f, (float)(BFloat16)1.5f);
        Assert.Equal(3.140625f, (float)(BFloat16)3.14159f);
    }

    [Fact]
    public void BFloat16_NaNStaysNaN_AndInfinitiesStay()
    {
        Assert.True(BFloat16.IsNaN((BFloat16)float.NaN));
        // A NaN whose payload lies only in the low 16 bits must not truncate to ±∞.
        BFloat16 lowPayload = (BFloat16)BitConverter.UInt32BitsToSingle(0x7F80_0001);
        Assert.True(BFloat16.IsNaN(lowPayload));
        Assert.True(BFloat16.IsNaN((BFloat16)BitConverter.UInt32BitsToSingle(0xFF80_0001)));
        Assert.True(BFloat16.IsNaN((BFloat16)BitConverter.UInt32BitsToSingle(0x7FFF_FFFF)));
        Assert.True(float.IsNaN((float)lowPayload));
        Assert.True(BFloat16.IsNaN(BFloat16.NaN));
        Assert.False(BFloat16.NaN == BFloat16.NaN);

        Assert.Equal(BFloat16.PositiveInfinity.RawValue, ((BFloat16)float.PositiveInfinity).RawValue);
        Assert.Equal(BFloat16.NegativeInfinity.RawValue, ((BFloat16)float.NegativeInfinity).RawValue);
        Assert.Equal(float.PositiveInfinity, (float)BFloat16.PositiveInfinity);
        Assert.Equal(float.NegativeInfinity, (float)BFloat16.NegativeInfinity);
        Assert.False(BFloat16.IsNaN(BFloat16.PositiveInfinity));
    }

    [Fact]
    public void BFloat16_EveryNonNaNBitPattern_RoundTripsThroughFloat()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            BFloat16 b = BFloat16.FromRawValue((ushort)bits);
            float f = b;
            Assert.Equal((uint)bits << 16, BitConverter.SingleToUInt32Bits(f));
            if (BFloat16.IsNaN(b))
            {
                Assert.True(float.IsNaN(f));
                Assert.True(BFloat16.IsNaN((BFloat16)f));
                continue;
            }

            Assert.Equal((ushort)bits, ((BFloat16)f).RawValue);
            Assert.Equal((ushort)bits, ((BFloat16)(double)f).RawValue);
        }
    }

    /// <summary>For random floats, the result is one of the two neighbouring BFloat16 values, the nearer one, and the
    /// even one on a tie — checked with exact double arithmetic.</summary>
    [Fact]
    public void BFloat16_RandomFloats_RoundToTheNearestEven()
    {
        var random = new Random(16);
        for (int i = 0; i < 200_000; i++)
        {
            uint bits = (uint)random.NextInt64(0, 1L << 32);
            if (i % 4 == 0)
            {
                bits = (bits & 0xFFFF_0000) | 0x8000; // an exact tie
            }

            float f = BitConverter.UInt32BitsToSingle(bits);
            if (!float.IsFinite(f))
            {
                continue;
            }

            ushort rounded = ((BFloat16)f).RawValue;
            uint down = bits & 0xFFFF_0000;
            uint up = down + 0x1_0000;
            double below = BitConverter.UInt32BitsToSingle(down);
            double above = (up & 0x7F80_0000) == 0x7F80_0000 ? Math.CopySign(Math.Pow(2, 128), f) : BitConverter.UInt32BitsToSingle(up);
            double dBelow = Math.Abs(f - below), dAbove = Math.Abs(above - f);
            uint expected = dBelow < dAbove ? down : dAbove < dBelow ? up : ((down >> 16) & 1) == 0 ? down : up;
            Assert.True((ushort)(expected >> 16) == rounded, $"{f:R} (0x{bits:X8}) rounded to 0x{rounded:X4}, expected 0x{expected >> 16:X4}");
        }
    }

    [Fact]
    public void BFloat16_FromDouble_GoesThroughFloat_AsPyTorch()
    {
        var random = new Random(17);
        for (int i = 0; i < 10_000; i++)
        {
            double d = (random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-140, 130));
            Assert.Equal(((BFloat16)(float)d).RawValue, ((BFloat16)d).RawValue);
        }
    }

    [Fact]
    public void BFloat16_ComparesAsFloat()
    {
        BFloat16 one = (BFloat16)1f, two = (BFloat16)2f;
        Assert.True(one != two);
        Assert.True(one.CompareTo(two) < 0);
        Assert.True((BFloat16)0f == (BFloat16)(-0f));
        Assert.Equal(((BFloat16)0f).GetHashCode(), ((BFloat16)(-0f)).GetHashCode());
        Assert.Equal("1.5", ((BFloat16)1.5f).ToString());
        Assert.Equal("1.50", ((BFloat16)1.5f).ToString("F2", System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(one.Equals((object)(BFloat16)1f));
        Assert.False(one.Equals((object)1f));
    }
}
