using System.Numerics.Tensors;

namespace Xent.Tests.Library;

/// <summary>The System.Numerics.Tensors overloads must give exactly what the span API gives on the same elements in
/// row-major order: dense tensors read in place, strided ones copied, outputs dense, shapes checked.</summary>
public sealed class TensorInteropTests
{
    private static float[] Random(int count, int seed, float scale = 3f)
    {
        var rng = new System.Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        }

        return values;
    }

    private static long[] Targets(int count, int classes, int seed, long ignoreIndex = -100, int ignoreEvery = 0)
    {
        var rng = new System.Random(seed);
        var values = new long[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = ignoreEvery > 0 && i % ignoreEvery == 0 ? ignoreIndex : rng.Next(classes);
        }

        return values;
    }

    [Theory]
    [InlineData(new[] { 7, 5 }, Reduction.Mean, false, 0.0)]
    [InlineData(new[] { 7, 5 }, Reduction.Sum, true, 0.1)]
    [InlineData(new[] { 3, 4, 2, 5 }, Reduction.Mean, true, 0.2)]
    [InlineData(new[] { 2, 6, 9 }, Reduction.Sum, false, 0.0)]
    public void ReducedCrossEntropyEqualsTheSpanApi(int[] dims, Reduction reduction, bool weighted, double smoothing)
    {
        nint[] inputShape = Array.ConvertAll(dims, d => (nint)d);
        nint[] targetShape = [inputShape[0], .. inputShape[2..]];
        int c = dims[1];
        float[] x = Random(dims.Aggregate(1, (a, b) => a * b), 1);
        long[] t = Targets(targetShape.Aggregate((nint)1, (a, b) => a * b) is var n ? (int)n : 0, c, 2, ignoreEvery: 4);
        float[] w = weighted ? Random(c, 3, 1f).Select(Math.Abs).ToArray() : [];

        var expectedLoss = new float[1];
        var expectedGrad = new float[x.Length];
        Functional.CrossEntropy<float, long>(x, inputShape, t, targetShape, expectedLoss, reduction, w, -100, smoothing, expectedGrad);

        var grad = new float[x.Length];
        float loss = Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, inputShape),
            new ReadOnlyTensorSpan<long>(t, targetShape), reduction,
            weighted ? new ReadOnlyTensorSpan<float>(w) : default, -100, smoothing, new TensorSpan<float>(grad, inputShape));

        Assert.Equal(expectedLoss[0], loss);
        Assert.Equal(expectedGrad, grad);
    }

    [Fact]
    public void UnreducedCrossEntropyWithGradOutputEqualsTheSpanApi()
    {
        nint[] inputShape = [4, 3, 5];
        nint[] targetShape = [4, 5];
        float[] x = Random(60, 10);
        long[] t = Targets(20, 3, 11, ignoreIndex: 1, ignoreEvery: 3);
        float[] gradOutput = Random(20, 12);

        var expectedLoss = new float[20];
        var expectedGrad = new float[60];
        Functional.CrossEntropy<float, long>(x, inputShape, t, targetShape, expectedLoss, Reduction.None, default, 1, 0.05, expectedGrad, gradOutput);

        var loss = new float[20];
        var grad = new float[60];
        Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, inputShape), new ReadOnlyTensorSpan<long>(t, targetShape),
            new TensorSpan<float>(loss, targetShape), Reduction.None, default, 1, 0.05,
            new TensorSpan<float>(grad, inputShape), new ReadOnlyTensorSpan<float>(gradOutput, targetShape));

        Assert.Equal(expectedLoss, loss);
        Assert.Equal(expectedGrad, grad);
    }

    [Fact]
    public void NllLossReturnsTheTotalWeightAndEqualsTheSpanApi()
    {
        nint[] inputShape = [6, 4];
        float[] x = Random(24, 20);
        int[] t = [0, 3, -1, 2, 1, 3];
        float[] w = [0.5f, 1f, 2f, 0.25f];

        var expectedLoss = new float[6];
        float expectedTotal = Functional.NllLoss<float, int>(x, inputShape, t, [6], expectedLoss, Reduction.None, w, -1);

        var loss = new float[6];
        float total = Functional.NllLoss<float, int>(new ReadOnlyTensorSpan<float>(x, inputShape), new ReadOnlyTensorSpan<int>(t),
            new TensorSpan<float>(loss), Reduction.None, new ReadOnlyTensorSpan<float>(w), -1);
        Assert.Equal(expectedLoss, loss);
        Assert.Equal(expectedTotal, total);
        Assert.Equal(0.5f + 0.25f + 2f + 1f + 0.25f, total);

        float mean = Functional.NllLoss<float, int>(new ReadOnlyTensorSpan<float>(x, inputShape), new ReadOnlyTensorSpan<int>(t),
            Reduction.Mean, new ReadOnlyTensorSpan<float>(w), -1);
        Assert.Equal(Functional.NllLoss(x, 4, [0, 3, -1, 2, 1, 3], default, Reduction.Mean, w, -1), mean);
    }

    [Fact]
    public void ProbabilityTargetsEqualTheSpanApi()
    {
        nint[] shape = [3, 4, 2];
        float[] x = Random(24, 30);
        float[] p = Random(24, 31, 1f).Select(Math.Abs).ToArray();

        var expectedLoss = new float[6];
        var expectedGrad = new float[24];
        Functional.CrossEntropy<float>(x, shape, p, expectedLoss, Reduction.None, default, 0.1, expectedGrad);

        var loss = new float[6];
        var grad = new float[24];
        Functional.CrossEntropy<float>(new ReadOnlyTensorSpan<float>(x, shape), new ReadOnlyTensorSpan<float>(p, shape),
            new TensorSpan<float>(loss, [3, 2]), Reduction.None, default, 0.1, new TensorSpan<float>(grad, shape));
        Assert.Equal(expectedLoss, loss);
        Assert.Equal(expectedGrad, grad);

        var mean = new float[1];
        Functional.CrossEntropy<float>(x, shape, p, mean);
        Assert.Equal(mean[0], Functional.CrossEntropy<float>(new ReadOnlyTensorSpan<float>(x, shape), new ReadOnlyTensorSpan<float>(p, shape)));
    }

    [Fact]
    public void LogSoftmaxEqualsTheSpanApi()
    {
        nint[] shape = [2, 3, 4];
        double[] x = Random(24, 40).Select(v => (double)v).ToArray();
        var expected = new double[24];
        Functional.LogSoftmax<double>(x, shape, 1, expected);

        var output = new double[24];
        Functional.LogSoftmax(new ReadOnlyTensorSpan<double>(x, shape), 1, new TensorSpan<double>(output, shape));
        Assert.Equal(expected, output);

        Tensor<double> result = Functional.LogSoftmax(Tensor.Create(x, shape), -2);
        Assert.Equal(shape, result.Lengths.ToArray());
        Assert.Equal(expected, result.ToArray());
    }

    [Fact]
    public void HalfAndBFloat16WorkThroughTensors()
    {
        float[] xf = Random(12, 50);
        Half[] xh = xf.Select(v => (Half)v).ToArray();
        BFloat16[] xb = xf.Select(v => (BFloat16)v).ToArray();
        long[] t = [2, 0, 1];

        var expectedH = new Half[1];
        Functional.CrossEntropy<Half, long>(xh, [3, 4], t, [3], expectedH);
        Assert.Equal(expectedH[0], Functional.CrossEntropy<Half, long>(new ReadOnlyTensorSpan<Half>(xh, [3, 4]), new ReadOnlyTensorSpan<long>(t)));

        var expectedB = new BFloat16[1];
        Functional.CrossEntropy<BFloat16, long>(xb, [3, 4], t, [3], expectedB);
        Assert.Equal(expectedB[0], Functional.CrossEntropy<BFloat16, long>(new ReadOnlyTensorSpan<BFloat16>(xb, [3, 4]), new ReadOnlyTensorSpan<long>(t)));
    }

    [Fact]
    public void OneDimensionalInputTakesATargetOfOneElement()
    {
        float[] x = [0.2f, -1.5f, 2.0f, 0.7f];
        var expected = new float[1];
        Functional.CrossEntropy<float, long>(x, [4], [2], [], expected);

        // ReadOnlyTensorSpan has no rank 0, so PyTorch's 0-D target is any one-element tensor.
        Assert.Equal(expected[0], Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x), new ReadOnlyTensorSpan<long>(new long[] { 2 })));
        Assert.Equal(expected[0], Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x), new ReadOnlyTensorSpan<long>(new long[] { 2 }, [1, 1])));

        var none = new float[1];
        Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x), new ReadOnlyTensorSpan<long>(new long[] { 2 }), new TensorSpan<float>(none), Reduction.None);
        Assert.Equal(expected[0], none[0]);

        var e = Assert.Throws<ArgumentException>(() =>
            Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x), new ReadOnlyTensorSpan<long>(new long[] { 2, 1, 0, 0 })));
        Assert.Equal("target", e.ParamName);
        Assert.StartsWith("Expected floating point type for target with class probabilities, got Long", e.Message);   // the input's shape
        e = Assert.Throws<ArgumentException>(() =>
            Functional.NllLoss<float, long>(new ReadOnlyTensorSpan<float>(x), new ReadOnlyTensorSpan<long>(new long[] { 2, 1, 0, 0 })));
        Assert.StartsWith("Expected target to be 0D when input is 1D", e.Message);
    }

    [Fact]
    public void StridedInputsAreCopiedInRowMajorOrder()
    {
        // The memory holds a (C, N) = (4, 3) array; the view is its transpose (N, C) = (3, 4), strides (1, 3).
        float[] columnMajor = Random(12, 60);
        var rowMajor = new float[12];
        for (int n = 0; n < 3; n++)
        {
            for (int c = 0; c < 4; c++)
            {
                rowMajor[n * 4 + c] = columnMajor[c * 3 + n];
            }
        }

        long[] t = [3, 0, 2];
        var transposed = new ReadOnlyTensorSpan<float>(columnMajor, [3, 4], [1, 3]);
        Assert.False(transposed.IsDense);

        var expectedGrad = new float[12];
        float expected = Functional.CrossEntropy(rowMajor, 4, t, expectedGrad, Reduction.Sum);
        var grad = new float[12];
        Assert.Equal(expected, Functional.CrossEntropy<float, long>(transposed, t, Reduction.Sum, gradInput: new TensorSpan<float>(grad, [3, 4])));
        Assert.Equal(expectedGrad, grad);

        // A broadcast target (stride 0): every row has class 1.
        float sameClass = Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(rowMajor, [3, 4]),
            new ReadOnlyTensorSpan<long>(new long[] { 1 }, [3], [0]));
        Assert.Equal(Functional.CrossEntropy(rowMajor, 4, [1, 1, 1], default), sameClass);

        // A strided weight: every other element of the array.
        float[] wide = [1f, 9f, 2f, 9f, 0.5f, 9f, 3f, 9f];
        float weighted = Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(rowMajor, [3, 4]), t,
            weight: new ReadOnlyTensorSpan<float>(wide, [4], [2]));
        Assert.Equal(Functional.CrossEntropy(rowMajor, 4, t, default, weight: [1f, 2f, 0.5f, 3f]), weighted);
    }

    [Fact]
    public void StridedOutputsAreRejected()
    {
        float[] x = Random(12, 70);
        long[] t = [3, 0, 2];
        var backing = new float[12];
        var e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, [3, 4]), t,
            Reduction.Mean, gradInput: new TensorSpan<float>(backing, [3, 4], [1, 3])));
        Assert.Equal("gradInput", e.ParamName);
        Assert.Contains("must be a dense", e.Message);

        var lossBacking = new float[6];
        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, [3, 4]), t,
            new TensorSpan<float>(lossBacking, [3], [2]), Reduction.None));
        Assert.Equal("loss", e.ParamName);
        Assert.All(lossBacking, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void TensorsLongerThanIntMaxValueAreNotSupported()
    {
        // A broadcast view costs one element of memory whatever its length.
        var e = Assert.Throws<NotSupportedException>(() => Functional.CrossEntropy<float, long>(
            new ReadOnlyTensorSpan<float>(new float[1], [1 << 20, 1 << 12], [0, 0]),
            new ReadOnlyTensorSpan<long>(new long[1], [1 << 20], [0])));
        Assert.Contains("'input' has 4294967296 elements", e.Message);
    }

    [Fact]
    public void ShapesAreChecked()
    {
        float[] x = Random(12, 80);
        long[] t = [3, 0, 2];

        var e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, [3, 4]), t, Reduction.None));
        Assert.Equal("reduction", e.ParamName);

        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, [3, 4]), t,
            new TensorSpan<float>(new float[3], [1, 3]), Reduction.None));
        Assert.Equal("loss", e.ParamName);
        Assert.StartsWith("Expected a loss of shape [3] for reduction 'none', got [1, 3].", e.Message);

        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, [3, 4]), t,
            new TensorSpan<float>(new float[3]), Reduction.Sum));
        Assert.Equal("loss", e.ParamName);

        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, [3, 4]), t,
            gradInput: new TensorSpan<float>(new float[12], [4, 3])));
        Assert.Equal("gradInput", e.ParamName);

        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, [3, 4]), t,
            weight: new ReadOnlyTensorSpan<float>(new float[4], [2, 2])));
        Assert.Equal("weight", e.ParamName);

        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, [3, 4]),
            new ReadOnlyTensorSpan<long>(new long[2])));
        Assert.Equal("target", e.ParamName);
        Assert.StartsWith("Expected input batch_size (3) to match target batch_size (2).", e.Message);

        var o = Assert.Throws<ArgumentOutOfRangeException>(() => Functional.CrossEntropy<float, long>(new ReadOnlyTensorSpan<float>(x, [3, 4]),
            new ReadOnlyTensorSpan<long>(new long[] { 0, 4, 1 })));
        Assert.StartsWith("Target 4 is out of bounds.", o.Message);

        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float>(new ReadOnlyTensorSpan<float>(x, [3, 4]),
            new ReadOnlyTensorSpan<float>(x, [4, 3])));
        Assert.Equal("target", e.ParamName);
    }

    [Fact]
    public void TensorOverloadsReturnNewTensors()
    {
        float[] x = Random(24, 90);
        long[] t = [1, 0, 2, 2, 1, 0];
        Tensor<float> input = Tensor.Create(x, [2, 4, 3]);
        Tensor<long> target = Tensor.Create(t, [2, 3]);

        var expected = new float[6];
        Functional.CrossEntropy<float, long>(x, [2, 4, 3], t, [2, 3], expected, Reduction.None, default, -100, 0.1);
        Tensor<float> perPosition = Functional.CrossEntropy(input, target, Reduction.None, labelSmoothing: 0.1);
        Assert.Equal([2, 3], perPosition.Lengths.ToArray());
        Assert.Equal(expected, perPosition.ToArray());

        Tensor<float> mean = Functional.CrossEntropy(input, target);
        Assert.Equal([1], mean.Lengths.ToArray());
        Assert.Equal(Functional.CrossEntropy<float, long>(input.AsReadOnlyTensorSpan(), target.AsReadOnlyTensorSpan()), mean.Single());

        var logp = new float[24];
        Functional.LogSoftmax<float>(x, [2, 4, 3], 1, logp);
        var expectedSum = new float[1];
        Functional.NllLoss<float, long>(logp, [2, 4, 3], t, [2, 3], expectedSum, Reduction.Sum, [1f, 2f, 3f, 4f]);
        Tensor<float> nll = Functional.NllLoss(Tensor.Create(logp, [2, 4, 3]), target, Reduction.Sum, Tensor.Create(new[] { 1f, 2f, 3f, 4f }));
        Assert.Equal(expectedSum[0], nll.Single());

        Tensor<float> probabilities = Functional.CrossEntropy(input, Tensor.Create(Random(24, 91, 1f).Select(Math.Abs).ToArray(), [2, 4, 3]), Reduction.None);
        Assert.Equal([2, 3], probabilities.Lengths.ToArray());
    }

    [Fact]
    public void TensorReturningOverloads_ReportTheShapeError_NotTheirOwnLossBuffer()
    {
        // Reduction.None sized its loss from the target before the shapes were checked, so a (C) input with a
        // 3-element target failed with "Expected a loss of shape [3] ...", a buffer the caller never passed.
        Tensor<double> x = Tensor.Create(new double[] { 1, 2, 3 }, [3]);
        var e = Assert.Throws<ArgumentException>(() => Functional.NllLoss(x, Tensor.Create(new long[] { 1, 2, 0 }, [3]), Reduction.None));
        Assert.StartsWith("Expected target to be 0D when input is 1D, but got target.dim =1", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(x, Tensor.Create(new long[] { 1, 2 }, [2]), Reduction.None));
        Assert.StartsWith("size mismatch (got input: [3], target: [2])", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(Tensor.Create(new double[6], [2, 3]), Tensor.Create(new long[] { 1, 2, 0 }, [3]), Reduction.None));
        Assert.StartsWith("Expected input batch_size (2) to match target batch_size (3).", e.Message);
    }
}
