using Xent.Tests.Reference;

namespace Xent.Tests.Library;

/// <summary>Every example of the documents the project was created from (/work/shared/seeds), with the values they
/// print. Where a document's input came from an unseeded <c>randn</c>, the test checks the shape and the formula.</summary>
public class SeedExampleTests
{
    // ---- 000: MindSpore nn.NLLLoss vs torch.nn.NLLLoss, K-dim (2, 2, 3, 3), ignore_index=-110, reduction="none" ----

    /// <summary>MindSpore's printed output (float32). With target all zeros, loss[n, i, j] = −input[n, 0, i, j].</summary>
    private static readonly float[] s_seed000MindSpore =
    [
        0.7047795f, 0.8196785f, -0.7913506f,
        0.22157642f, -0.18818447f, -0.65975004f,
        1.7223285f, -0.9269855f, 0.46461168f,
        0.21305805f, -2.213903f, 0.36110482f,
        -0.1900587f, -0.56938815f, 0.12274747f,
        1.149195f, -0.8739661f, -1.7944012f,
    ];

    /// <summary>PyTorch's printed output of the same call (4 decimals).</summary>
    private static readonly float[] s_seed000PyTorch =
    [
        0.7048f, 0.8197f, -0.7914f,
        0.2216f, -0.1882f, -0.6598f,
        1.7223f, -0.9270f, 0.4646f,
        0.2131f, -2.2139f, 0.3611f,
        -0.1901f, -0.5694f, 0.1227f,
        1.1492f, -0.8740f, -1.7944f,
    ];

    /// <summary>The seed's input is an unseeded randn, but its output pins input[:, 0] = −output: rebuild that channel
    /// from the printed output (channel 1 is free, any values) and the call must print the same numbers.</summary>
    [Fact]
    public void Seed000_KDimNll_IgnoreIndexMinus110_None_ReproducesPrintedOutputs()
    {
        var random = new Random(000);
        float[] input = new float[2 * 2 * 3 * 3];
        for (int n = 0; n < 2; n++)
        {
            for (int k = 0; k < 9; k++)
            {
                input[(n * 2 + 0) * 9 + k] = -s_seed000MindSpore[n * 9 + k];
                input[(n * 2 + 1) * 9 + k] = (float)random.NextGaussian();
            }
        }

        // MindSpore's labels are int32 zeros, PyTorch's are int64 zeros: both must give the same loss.
        float[] lossInt = new float[18];
        float[] lossLong = new float[18];
        Functional.NllLoss<float, int>(input, [2, 2, 3, 3], new int[18], [2, 3, 3], lossInt, Reduction.None, ignoreIndex: -110);
        Functional.NllLoss<float, long>(input, [2, 2, 3, 3], new long[18], [2, 3, 3], lossLong, Reduction.None, ignoreIndex: -110);

        Assert.Equal(s_seed000MindSpore, lossInt);
        Assert.Equal(s_seed000MindSpore, lossLong);
        for (int i = 0; i < 18; i++)
        {
            Assert.True(Math.Abs(lossLong[i] - s_seed000PyTorch[i]) <= 0.5e-4 + 1e-7, $"loss[{i}] = {lossLong[i]}, PyTorch printed {s_seed000PyTorch[i]}");
        }
    }

    /// <summary>The formula and the shape for random (2, 2, 3, 3) data: loss (2, 3, 3) = −input[:, 0], gradient −1 at
    /// channel 0 and 0 at channel 1; the mean is the average of the 18 losses.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Seed000_KDimNll_RandomData_FollowsFormulaAndShape(int seed)
    {
        var random = new Random(seed);
        double[] data = Numbers.Gaussian(random, 36);
        float[] input = Numbers.Convert<float>(data);
        int[] target = new int[18];

        float[] loss = new float[18];
        float[] grad = new float[36];
        float totalWeight = Functional.NllLoss<float, int>(input, [2, 2, 3, 3], target, [2, 3, 3], loss, Reduction.None,
            ignoreIndex: -110, gradInput: grad);

        Assert.Equal(18f, totalWeight);
        for (int n = 0; n < 2; n++)
        {
            for (int k = 0; k < 9; k++)
            {
                Assert.Equal(-input[(n * 2 + 0) * 9 + k], loss[n * 9 + k]);
                Assert.Equal(-1f, grad[(n * 2 + 0) * 9 + k]);
                Assert.Equal(0f, grad[(n * 2 + 1) * 9 + k]);
            }
        }

        float[] mean = new float[1];
        Functional.NllLoss<float, int>(input, [2, 2, 3, 3], target, [2, 3, 3], mean, Reduction.Mean, ignoreIndex: -110);
        double expected = 0;
        foreach (float l in loss)
        {
            expected += l;
        }

        Assert.Equal(expected / 18, mean[0], 6);
    }

    // ---- 001: MindSpore nn.CrossEntropyLoss vs torch.nn.CrossEntropyLoss: mean loss 2.764 ----

    private static readonly double[] s_seed001Input =
    [
        1.624, -0.611, -0.528, -1.072, 0.865,
        -2.301, 1.744, -0.761, 0.319, -0.249,
        1.462, -2.060, -0.322, -0.384, 1.133,
    ];

    /// <summary>PyTorch: float64 input, int64 target, default CrossEntropyLoss; prints round(loss, 3) = 2.764.</summary>
    [Fact]
    public void Seed001_CrossEntropyMean_Double_Is2764()
    {
        double[] loss = new double[1];
        Functional.CrossEntropy<double, long>(s_seed001Input, [3, 5], [1, 0, 4], [3], loss);

        Assert.Equal(2.764, Math.Round(loss[0], 3));

        // torch.nn.functional.cross_entropy on these float64 values (PyTorch 2.10 through TorchSharp 0.107) gives
        // 2.7643174743059498; the reference agrees.
        Assert.Equal(2.7643174743059498, loss[0], 1e-13);
        Assert.Equal(ReferenceLoss.CrossEntropy(s_seed001Input, [3, 5], [1, 0, 4]).Loss[0], loss[0], 1e-13);
    }

    /// <summary>MindSpore: float32 input, int32 labels; prints 2.764 too. Also through the fixed 2-D float entry point.</summary>
    [Fact]
    public void Seed001_CrossEntropyMean_Float_Is2764()
    {
        float[] input = Numbers.Convert<float>(s_seed001Input);
        float[] loss = new float[1];
        Functional.CrossEntropy<float, int>(input, [3, 5], [1, 0, 4], [3], loss);
        float fixedEntry = Functional.CrossEntropy(input, 5, [1L, 0, 4], default);

        Assert.Equal(2.764, Math.Round(loss[0], 3));
        Assert.Equal(2.764, Math.Round(fixedEntry, 3));
        Assert.Equal(loss[0], fixedEntry);
    }

    // ---- 002: MindSpore ops.NLLLoss: (loss, total_weight) = (-0.52507716, 1.1503246) ----

    private static readonly float[] s_seed002Logits = [0.5488135f, 0.71518934f, 0.60276335f, 0.5448832f, 0.4236548f, 0.6458941f];
    private static readonly float[] s_seed002Weight = [0.3834415f, 0.79172504f];

    [Fact]
    public void Seed002_MindSporeOpsNllLoss_Int32Labels_PrintsLossAndTotalWeight()
    {
        (float loss, float totalWeight) = Functional.NllLossWithTotalWeight<float, int>(s_seed002Logits, [3, 2], [0, 0, 0], s_seed002Weight);

        // MindSpore prints float32 values with their shortest round-trip digits. It adds the three terms in float32
        // and prints -0.52507716; the exact sum rounded once (what Xent's double partials give) is -0.5250772, the next
        // float. One unit in the last place apart is as close as two float32 summation orders can promise.
        AssertWithinUlps(-0.52507716f, loss, 1);
        Assert.Equal(-0.525077223777771, loss, 1e-15);
        Assert.Equal("1.1503246", totalWeight.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The labels may be uint8, int32 or int64: the same result for each.</summary>
    [Fact]
    public void Seed002_MindSporeOpsNllLoss_ByteAndLongLabels_GiveTheSameResult()
    {
        var viaInt = Functional.NllLossWithTotalWeight<float, int>(s_seed002Logits, [3, 2], [0, 0, 0], s_seed002Weight);
        var viaByte = Functional.NllLossWithTotalWeight<float, byte>(s_seed002Logits, [3, 2], [0, 0, 0], s_seed002Weight);
        var viaLong = Functional.NllLossWithTotalWeight<float, long>(s_seed002Logits, [3, 2], [0, 0, 0], s_seed002Weight);

        Assert.Equal(viaInt, viaByte);
        Assert.Equal(viaInt, viaLong);
        AssertWithinUlps(-0.52507716f, viaByte.Loss, 1);
        Assert.Equal(1.1503246f, viaByte.TotalWeight);
    }

    /// <summary>The same numbers through the generic NLL entry point, which returns the total weight.</summary>
    [Fact]
    public void Seed002_GenericNllLoss_ReturnsTheTotalWeight()
    {
        float[] loss = new float[1];
        float totalWeight = Functional.NllLoss<float, int>(s_seed002Logits, [3, 2], [0, 0, 0], [3], loss, Reduction.Mean, s_seed002Weight);

        AssertWithinUlps(-0.52507716f, loss[0], 1);
        Assert.Equal(1.1503246f, totalWeight);
    }

    private static void AssertWithinUlps(float expected, float actual, int ulps)
    {
        int distance = Math.Abs(BitConverter.SingleToInt32Bits(expected) - BitConverter.SingleToInt32Bits(actual));
        Assert.True(distance <= ulps, $"{actual:R} is {distance} units in the last place from {expected:R}");
    }

    /// <summary>The logits may be float16 (and the weight has the logits' type): the float32 answer rounded to Half.</summary>
    [Fact]
    public void Seed002_MindSporeOpsNllLoss_Float16_IsTheFloatAnswerRounded()
    {
        Half[] logits = Array.ConvertAll(s_seed002Logits, v => (Half)v);
        Half[] weight = Array.ConvertAll(s_seed002Weight, v => (Half)v);
        (Half loss, Half totalWeight) = Functional.NllLossWithTotalWeight<Half, int>(logits, [3, 2], [0, 0, 0], weight);

        ReferenceResult reference = ReferenceLoss.Nll(Numbers.ToDouble(logits), [3, 2], [0, 0, 0], Numbers.ToDouble(weight));
        Assert.Equal((Half)reference.Loss[0], loss);
        Assert.Equal((Half)reference.TotalWeight, totalWeight);
        Assert.Equal(-0.52507716, (double)loss, 1e-3);
        Assert.Equal(1.1503246, (double)totalWeight, 1e-3);
    }

    // ---- 003: notes on torch NLLLoss and CrossEntropyLoss ----

    /// <summary>input [[-0.1187, 0.2110, 0.7463]], target [1]: F.nll_loss and nn.NLLLoss() both print -0.2110.</summary>
    [Fact]
    public void Seed003_NllSingleRow_IsMinusInputAtTarget()
    {
        float[] input = [-0.1187f, 0.2110f, 0.7463f];
        float[] loss = new float[1];
        Functional.NllLoss<float, long>(input, [1, 3], [1], [1], loss);

        Assert.Equal(-0.2110f, loss[0]);
        Assert.Equal(-0.2110f, Functional.NllLoss(input, 3, [1L], default));
    }

    /// <summary>input (2, 3), target [2, 0]: the mean prints -0.0664 and reduction='none' prints [-0.7463, 0.6136].</summary>
    [Fact]
    public void Seed003_NllTwoRows_MeanAndNone()
    {
        float[] input = [-0.1187f, 0.2110f, 0.7463f, -0.6136f, -0.1186f, 1.5565f];
        float[] mean = new float[1];
        float[] none = new float[2];
        Functional.NllLoss<float, long>(input, [2, 3], [2, 0], [2], mean);
        Functional.NllLoss<float, long>(input, [2, 3], [2, 0], [2], none, Reduction.None);

        // The printed input is rounded to 4 decimals, so the mean of the rounded values (−0.06635) sits within
        // half a unit of the 4th decimal of the printed −0.0664.
        Assert.True(Math.Abs(mean[0] - -0.0664) <= 0.5e-4 + 1e-7, $"mean {mean[0]}");
        Assert.Equal([-0.7463f, 0.6136f], none);
    }

    /// <summary>a = [[1, 2, 3]], target [2]: CrossEntropyLoss prints 0.4076, and LogSoftmax then NLLLoss prints the same.</summary>
    [Fact]
    public void Seed003_CrossEntropyEqualsLogSoftmaxThenNll()
    {
        float[] a = [1f, 2f, 3f];
        float[] ce = new float[1];
        Functional.CrossEntropy<float, long>(a, [1, 3], [2], [1], ce);

        float[] logSoftmax = new float[3];
        Functional.LogSoftmax<float>(a, [1, 3], 1, logSoftmax);
        float[] nll = new float[1];
        Functional.NllLoss<float, long>(logSoftmax, [1, 3], [2], [1], nll);

        Assert.Equal(0.4076, Math.Round(ce[0], 4));
        Assert.Equal(0.4076, Math.Round(nll[0], 4));
        Assert.Equal(ce[0], nll[0], 1e-6f);

        // log(1 + e^-1 + e^-2) exactly.
        Assert.Equal(Math.Log(1 + Math.Exp(-1) + Math.Exp(-2)), ce[0], 1e-6);
    }

    // ---- 004: OneFlow nn.NLLLoss, int32 targets ----

    private static readonly float[] s_seed004Input =
    [
        -0.1664078f, -1.7256707f, -0.14690138f,
        -0.21474946f, 0.53737473f, 0.99684894f,
        -1.135804f, -0.50371903f, 0.7645404f,
    ];

    [Fact]
    public void Seed004_OneFlowNll_None_Sum_Mean()
    {
        int[] target = [0, 1, 2];
        float[] none = new float[3];
        float[] sum = new float[1];
        float[] mean = new float[1];
        Functional.NllLoss<float, int>(s_seed004Input, [3, 3], target, [3], none, Reduction.None);
        Functional.NllLoss<float, int>(s_seed004Input, [3, 3], target, [3], sum, Reduction.Sum);
        Functional.NllLoss<float, int>(s_seed004Input, [3, 3], target, [3], mean, Reduction.Mean);

        Assert.Equal([0.1664, -0.5374, -0.7645], Array.ConvertAll(none, v => Math.Round(v, 4)));
        Assert.Equal(-1.1355, Math.Round(sum[0], 4));
        Assert.Equal(-0.3785, Math.Round(mean[0], 4));

        // Exactly the negated diagonal.
        Assert.Equal([0.1664078f, -0.53737473f, -0.7645404f], none);
    }
}
