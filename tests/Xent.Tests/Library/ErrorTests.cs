using System.Numerics.Tensors;

namespace Xent.Tests.Library;

/// <summary>Every error the library throws: its type, its message (PyTorch's where PyTorch has one) and its parameter
/// name; and that a call that throws has written nothing — the loss and gradient buffers are pre-filled with a sentinel
/// and must still hold it.</summary>
public class ErrorTests
{
    private const float Sentinel = 777f;

    private static float[] Filled(int length) => Enumerable.Repeat(Sentinel, length).ToArray();

    /// <summary>Calls <paramref name="act"/> with sentinel-filled loss and gradient buffers of the given lengths and
    /// asserts the exception (exact type), its message, its parameter name, and that both buffers are untouched.</summary>
    private static TException Throws<TException>(string paramName, string message, int lossLength, int gradLength,
        Action<float[], float[]> act)
        where TException : ArgumentException
    {
        float[] loss = Filled(lossLength);
        float[] grad = Filled(gradLength);
        TException ex = Assert.Throws<TException>(() => act(loss, grad));
        Assert.Equal(paramName, ex.ParamName);
        Assert.Equal($"{message} (Parameter '{paramName}')", ex.Message);
        Assert.All(loss, v => Assert.Equal(Sentinel, v));
        Assert.All(grad, v => Assert.Equal(Sentinel, v));
        return ex;
    }

    private static void ThrowsArgument(string paramName, string message, int lossLength, int gradLength, Action<float[], float[]> act) =>
        Throws<ArgumentException>(paramName, message, lossLength, gradLength, act);

    /// <summary><see cref="Throws{TException}"/> for <see cref="ArgumentOutOfRangeException"/> (other test classes check
    /// their own inputs' errors with it).</summary>
    internal static void ThrowsOutOfRange(string paramName, string message, int lossLength, int gradLength, Action<float[], float[]> act) =>
        Throws<ArgumentOutOfRangeException>(paramName, message, lossLength, gradLength, act);

    private static readonly float[] s_input4x5 = Enumerable.Range(0, 20).Select(i => (float)Math.Sin(i)).ToArray();

    // ---- Targets out of bounds ----

    [Theory]
    [InlineData(7L)]
    [InlineData(5L)]
    [InlineData(-1L)]
    [InlineData(-101L)]
    [InlineData(long.MaxValue)]
    [InlineData(long.MinValue)]
    public void TargetOutOfBounds_CrossEntropy_Throws(long bad)
    {
        long[] target = [0, 1, bad, 2];
        ThrowsOutOfRange("target", $"Target {bad} is out of bounds.", 4, 20, (loss, grad) =>
            Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], target, [4], loss, Reduction.None, gradInput: grad));
    }

    [Theory]
    [InlineData(7L)]
    [InlineData(5L)]
    [InlineData(-1L)]
    public void TargetOutOfBounds_Nll_Throws(long bad)
    {
        long[] target = [0, 1, 2, bad];
        ThrowsOutOfRange("target", $"Target {bad} is out of bounds.", 1, 20, (loss, grad) =>
            Functional.NllLoss<float, long>(s_input4x5, [4, 5], target, [4], loss, gradInput: grad));
    }

    /// <summary>300000 targets are checked in blocks of 65536 on all cores: the first bad target in order is reported,
    /// whichever block a thread reaches first, and nothing is written.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void TargetOutOfBounds_AmongManyBlocks_ReportsTheFirst(int threads)
    {
        const int n = 300_000, c = 2;
        var input = new float[n * c];
        var target = new long[n];
        for (int i = 0; i < n; i++) target[i] = i % 7 == 0 ? -100 : i % c;
        target[140_000] = 9;
        target[70_001] = -3;
        target[299_999] = 5;
        Threads.Run(threads, () =>
        {
            // int64 and int32 targets (both checked 8 at a time).
            int[] Narrow() => [.. target.Select(v => (int)v)];
            ThrowsOutOfRange("target", "Target -3 is out of bounds.", 1, n * c, (loss, grad) =>
                Functional.CrossEntropy<float, long>(input, [n, c], target, [n], loss, gradInput: grad));
            ThrowsOutOfRange("target", "Target -3 is out of bounds.", 1, n * c, (loss, grad) =>
                Functional.CrossEntropy<float, int>(input, [n, c], Narrow(), [n], loss, gradInput: grad));
            target[70_001] = 1;
            ThrowsOutOfRange("target", "Target 9 is out of bounds.", 1, n * c, (loss, grad) =>
                Functional.CrossEntropy<float, long>(input, [n, c], target, [n], loss, gradInput: grad));
            ThrowsOutOfRange("target", "Target 9 is out of bounds.", 1, n * c, (loss, grad) =>
                Functional.CrossEntropy<float, int>(input, [n, c], Narrow(), [n], loss, gradInput: grad));
            // uint8 targets (checked 16 at a time), ignore_index 255 where the others have −100.
            byte[] Bytes() => [.. target.Select(v => v == -100 ? (byte)255 : (byte)v)];
            ThrowsOutOfRange("target", "Target 9 is out of bounds.", 1, n * c, (loss, grad) =>
                Functional.CrossEntropy<float, byte>(input, [n, c], Bytes(), [n], loss, ignoreIndex: 255, gradInput: grad));
            target[140_000] = 0;
            ThrowsOutOfRange("target", "Target 5 is out of bounds.", 1, n * c, (loss, grad) =>
                Functional.NllLoss<float, long>(input, [n, c], target, [n], loss, gradInput: grad));
            ThrowsOutOfRange("target", "Target 5 is out of bounds.", 1, n * c, (loss, grad) =>
                Functional.NllLoss<float, int>(input, [n, c], Narrow(), [n], loss, gradInput: grad));
            ThrowsOutOfRange("target", "Target 5 is out of bounds.", 1, n * c, (loss, grad) =>
                Functional.NllLoss<float, byte>(input, [n, c], Bytes(), [n], loss, ignoreIndex: 255, gradInput: grad));
            target[299_999] = 1;
            Functional.NllLoss<float, int>(input, [n, c], Narrow(), [n], new float[1]);
            Functional.NllLoss<float, byte>(input, [n, c], Bytes(), [n], new float[1], ignoreIndex: 255);
        });
    }

    [Fact]
    public void TargetOutOfBounds_IntAndByteTargets_Throw()
    {
        ThrowsOutOfRange("target", "Target -7 is out of bounds.", 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float, int>(s_input4x5, [4, 5], [0, -7, 1, 1], [4], loss, gradInput: grad));
        ThrowsOutOfRange("target", "Target 200 is out of bounds.", 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float, byte>(s_input4x5, [4, 5], [0, 200, 1, 1], [4], loss, gradInput: grad));

        // ignore_index −100 cannot be a byte, so a byte target is never ignored by default: 255 is out of bounds.
        ThrowsOutOfRange("target", "Target 255 is out of bounds.", 1, 20, (loss, grad) =>
            Functional.NllLoss<float, byte>(s_input4x5, [4, 5], [0, 255, 1, 1], [4], loss, gradInput: grad));
    }

    [Fact]
    public void TargetOutOfBounds_KDim_1D_FixedEntries_AndMindSpore_Throw()
    {
        float[] image = Enumerable.Range(0, 2 * 3 * 4).Select(i => (float)i).ToArray();
        ThrowsOutOfRange("target", "Target 3 is out of bounds.", 8, 24, (loss, grad) =>
            Functional.CrossEntropy<float, long>(image, [2, 3, 4], [0, 1, 2, 0, 1, 2, 0, 3], [2, 4], loss, Reduction.None, gradInput: grad));
        ThrowsOutOfRange("target", "Target 9 is out of bounds.", 1, 5, (loss, grad) =>
            Functional.CrossEntropy<float, long>(s_input4x5.AsSpan(0, 5), [5], [9], [], loss, gradInput: grad));
        ThrowsOutOfRange("target", "Target 5 is out of bounds.", 0, 20, (_, grad) =>
            Functional.CrossEntropy(s_input4x5, 5, [0L, 5, 1, 1], grad));
        ThrowsOutOfRange("target", "Target -2 is out of bounds.", 0, 20, (_, grad) =>
            Functional.NllLoss(s_input4x5, 5, [0L, -2, 1, 1], grad));
        ThrowsOutOfRange("target", "Target 6 is out of bounds.", 0, 0, (_, _) =>
            Functional.NllLossWithTotalWeight<float, int>(s_input4x5, [4, 5], [0, 6, 1, 1]));
    }

    /// <summary>PyTorch tests ignore_index before the bounds: a target equal to ignore_index is ignored even where it
    /// is outside [0, C), negative or not.</summary>
    [Theory]
    [InlineData(7L)]
    [InlineData(5L)]
    [InlineData(-3L)]
    [InlineData(1000L)]
    public void IgnoreIndex_IsTestedBeforeTheBounds(long ignoreIndex)
    {
        long[] target = [0, ignoreIndex, 4, ignoreIndex];
        float[] loss = new float[1];
        float[] grad = new float[20];
        Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], target, [4], loss, Reduction.Mean, ignoreIndex: ignoreIndex, gradInput: grad);
        float nllTotal = Functional.NllLoss<float, long>(s_input4x5, [4, 5], target, [4], default, ignoreIndex: ignoreIndex);

        var expected = Reference.ReferenceLoss.CrossEntropy(Numbers.ToDouble(s_input4x5), [4, 5], target, ignoreIndex: ignoreIndex);
        Assert.Equal(expected.Loss[0], loss[0], 1e-6);
        Assert.Equal(2f, nllTotal);
        Assert.All(grad.AsSpan(5, 5).ToArray(), v => Assert.Equal(0f, v));
        Assert.All(grad.AsSpan(15, 5).ToArray(), v => Assert.Equal(0f, v));
    }

    /// <summary>The bad target is the last of a large, parallel call: validation runs before any work, so nothing is
    /// written and the caller gets the one exception (not an AggregateException).</summary>
    [Fact]
    public void TargetOutOfBounds_AtTheEndOfALargeCall_WritesNothing()
    {
        const int n = 1000, c = 100;
        float[] input = Numbers.Convert<float>(Numbers.Gaussian(new Random(3), n * c));
        long[] target = Enumerable.Range(0, n).Select(i => (long)(i % c)).ToArray();
        target[^1] = c;
        int[] image = Enumerable.Range(0, 4 * 64 * 64).Select(i => i % 21).ToArray();
        image[^1] = 21;
        float[] imageInput = new float[4 * 21 * 64 * 64];

        Threads.Run(4, () =>
        {
            ThrowsOutOfRange("target", "Target 100 is out of bounds.", n, n * c, (loss, grad) =>
                Functional.CrossEntropy<float, long>(input, [n, c], target, [n], loss, Reduction.None, gradInput: grad));
            ThrowsOutOfRange("target", "Target 100 is out of bounds.", n, n * c, (loss, grad) =>
                Functional.NllLoss<float, long>(input, [n, c], target, [n], loss, Reduction.None, gradInput: grad));
            ThrowsOutOfRange("target", "Target 21 is out of bounds.", 4 * 64 * 64, imageInput.Length, (loss, grad) =>
                Functional.CrossEntropy<float, int>(imageInput, [4, 21, 64, 64], image, [4, 64, 64], loss, Reduction.None, gradInput: grad));
        });
    }

    // ---- Weight ----

    [Fact]
    public void WeightOfTheWrongLength_Throws()
    {
        const string message = "weight tensor should be defined either for all 5 classes or no classes but got weight tensor of shape: [4]";
        float[] weight = [1, 1, 1, 1];
        long[] target = [0, 1, 2, 3];
        ThrowsArgument("weight", message, 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], target, [4], loss, Reduction.Mean, weight, gradInput: grad));
        ThrowsArgument("weight", message, 1, 20, (loss, grad) =>
            Functional.NllLoss<float, long>(s_input4x5, [4, 5], target, [4], loss, Reduction.Mean, weight, gradInput: grad));
        ThrowsArgument("weight", message, 0, 20, (_, grad) =>
            Functional.CrossEntropy(s_input4x5, 5, target, grad, Reduction.Sum, weight));
        ThrowsArgument("weight", message, 0, 20, (_, grad) =>
            Functional.NllLoss(s_input4x5, 5, target, grad, Reduction.Sum, weight));
        ThrowsArgument("weight", message, 0, 0, (_, _) =>
            Functional.NllLossWithTotalWeight<float, long>(s_input4x5, [4, 5], target, weight));

        // cross_entropy_loss_prob_target has its own check, with a prefix.
        ThrowsArgument("weight", "cross_entropy: " + message, 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float>(s_input4x5, [4, 5], s_input4x5, loss, Reduction.Mean, weight, gradInput: grad));
        ThrowsArgument("weight", "weight tensor should be defined either for all 5 classes or no classes but got weight tensor of shape: [6]", 1, 20,
            (loss, grad) => Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], target, [4], loss, Reduction.Mean, new float[6], gradInput: grad));

        // Inputs of 3 or more dimensions go through PyTorch's nll_loss2d, whose message has no numbers; Xent adds them.
        const string spatial = "weight tensor should be defined either for all or no classes (got weight tensor of shape: [4] for 5 classes)";
        ThrowsArgument("weight", spatial, 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float, long>(s_input4x5, [2, 5, 2], new long[4], [2, 2], loss, Reduction.Mean, weight, gradInput: grad));
        ThrowsArgument("weight", spatial, 1, 20, (loss, grad) =>
            Functional.NllLoss<float, long>(s_input4x5, [1, 5, 2, 2], new long[4], [1, 2, 2], loss, Reduction.Mean, weight, gradInput: grad));
    }

    /// <summary>A weight of no elements that the caller gave (a module's empty array, an empty tensor) is PyTorch's
    /// <c>weight=torch.tensor([])</c>: an error for C ≥ 1, after the checks PyTorch makes first, and fine for C = 0. A
    /// span of no elements still means no weight: a span cannot say whether it was given.</summary>
    [Fact]
    public void GivenEmptyWeight_IsPyTorchsEmptyWeight()
    {
        const string message = "weight tensor should be defined either for all 5 classes or no classes but got weight tensor of shape: [0]";
        long[] target = [0, 1, 2, 3];
        var ce = new CrossEntropyLoss(weight: []);
        var nll = new NLLLoss(weight: []);
        Assert.Equal(Array.Empty<double>(), ce.Weight);
        Assert.Null(new CrossEntropyLoss().Weight);
        ThrowsArgument("weight", message, 1, 0, (loss, _) => ce.Forward<float, long>(s_input4x5, [4, 5], target, [4], loss));
        ThrowsArgument("weight", message, 0, 20, (_, grad) => ce.Backward<float, long>(s_input4x5, [4, 5], target, [4], default, grad));
        ThrowsArgument("weight", message, 1, 0, (loss, _) => nll.Forward<float, long>(s_input4x5, [4, 5], target, [4], loss));
        ThrowsArgument("weight", message, 0, 20, (_, grad) => nll.Backward<float, long>(s_input4x5, [4, 5], target, [4], default, grad));
        ThrowsArgument("weight", "cross_entropy: " + message, 1, 0, (loss, _) => ce.Forward<float>(s_input4x5, [4, 5], s_input4x5, loss));
        ThrowsArgument("weight", "weight tensor should be defined either for all or no classes (got weight tensor of shape: [0] for 5 classes)", 1, 0,
            (loss, _) => ce.Forward<float, long>(s_input4x5, [2, 5, 2], new long[4], [2, 2], loss));

        // PyTorch's other checks come first: a target out of shape, a smoothing above 1.
        ThrowsArgument("target", "Expected input batch_size (4) to match target batch_size (3).", 1, 0,
            (loss, _) => ce.Forward<float, long>(s_input4x5, [4, 5], target.AsSpan(0, 3), [3], loss));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CrossEntropyLoss(weight: [], labelSmoothing: 1.5));

        // Tensors: an empty weight tensor was given, null was not.
        Tensor<float> input = Tensor.Create(s_input4x5, [4, 5]);
        Tensor<long> targets = Tensor.Create(target, [4]);
        Tensor<float> empty = Tensor.Create(Array.Empty<float>(), [0]);
        var e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(input, targets, weight: empty));
        Assert.Equal($"{message} (Parameter 'weight')", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.NllLoss(input, targets, weight: empty));
        Assert.Equal($"{message} (Parameter 'weight')", e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(input, input, weight: empty));
        Assert.Equal($"cross_entropy: {message} (Parameter 'weight')", e.Message);
        Assert.Equal(Functional.CrossEntropy(input, targets)[0], Functional.CrossEntropy(input, targets, weight: null)[0]);

        // Spans: empty means none.
        var loss = new float[1];
        var reference = new float[1];
        Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], target, [4], loss, Reduction.Mean, Array.Empty<float>());
        Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], target, [4], reference);
        Assert.Equal(reference[0], loss[0]);

        // C = 0: a weight of 0 elements is one per class. Every target must be ignored, and the mean is NaN.
        var zero = new float[1];
        ce.Forward<float, long>([], [2, 0], [-100, -100], [2], zero);
        Assert.True(float.IsNaN(zero[0]));
    }

    // ---- Shapes ----

    [Fact]
    public void BatchSizeMismatch_Throws()
    {
        float[] input = new float[12];
        ThrowsArgument("target", "Expected input batch_size (4) to match target batch_size (3).", 1, 12, (loss, grad) =>
            Functional.CrossEntropy<float, long>(input, [4, 3], [0, 0, 0], [3], loss, gradInput: grad));
        ThrowsArgument("target", "Expected input batch_size (4) to match target batch_size (3).", 1, 12, (loss, grad) =>
            Functional.NllLoss<float, long>(input, [4, 3], [0, 0, 0], [3], loss, gradInput: grad));
        ThrowsArgument("target", "Expected input batch_size (4) to match target batch_size (3).", 0, 12, (_, grad) =>
            Functional.CrossEntropy(input, 3, [0L, 0, 0], grad));
        ThrowsArgument("target", "Expected input batch_size (4) to match target batch_size (5).", 0, 12, (_, grad) =>
            Functional.NllLoss(input, 3, [0L, 0, 0, 0, 0], grad));

        // K-dim: the batch is checked before the spatial dims.
        ThrowsArgument("target", "Expected input batch_size (2) to match target batch_size (3).", 1, 72, (loss, grad) =>
            Functional.CrossEntropy<float, long>(new float[72], [2, 4, 3, 3], new long[27], [3, 3, 3], loss, gradInput: grad));
    }

    [Fact]
    public void TwoDimensionalInput_WithAScalarTarget_IsASizeMismatch()
    {
        ThrowsArgument("target", "size mismatch (got input: [4, 3], target: [])", 1, 12, (loss, grad) =>
            Functional.CrossEntropy<float, long>(new float[12], [4, 3], [0], [], loss, gradInput: grad));
    }

    [Fact]
    public void KDimTargetMismatch_Throws()
    {
        // 4-D inputs go through PyTorch's nll_loss2d, with its words (spacing and all); 3-D and 5-D through the reshape.
        ThrowsArgument("target", "size mismatch (got input: [2, 4, 3, 3] , target: [2, 3, 4]", 18, 72, (loss, grad) =>
            Functional.CrossEntropy<float, long>(new float[72], [2, 4, 3, 3], new long[24], [2, 3, 4], loss, Reduction.None, gradInput: grad));
        ThrowsArgument("target", "only batches of spatial targets supported (3D tensors) but got targets of dimension: 2", 1, 72, (loss, grad) =>
            Functional.NllLoss<float, long>(new float[72], [2, 4, 3, 3], new long[18], [2, 9], loss, gradInput: grad));
        ThrowsArgument("target", "Expected target size [2, 3, 3, 1], got [2, 9]", 1, 72, (loss, grad) =>
            Functional.NllLoss<float, long>(new float[72], [2, 4, 3, 3, 1], new long[18], [2, 9], loss, gradInput: grad));
        ThrowsArgument("target", "Expected target size [2, 3], got []", 1, 24, (loss, grad) =>
            Functional.CrossEntropy<float, long>(new float[24], [2, 4, 3], [0], [], loss, gradInput: grad));
    }

    [Fact]
    public void TargetOfTooManyDimensions_Throws()
    {
        ThrowsArgument("target", "0D or 1D target tensor expected, multi-target not supported", 1, 12, (loss, grad) =>
            Functional.CrossEntropy<float, long>(new float[12], [4, 3], new long[4], [4, 1], loss, gradInput: grad));
        ThrowsArgument("target", "0D or 1D target tensor expected, multi-target not supported", 1, 3, (loss, grad) =>
            Functional.CrossEntropy<float, long>(new float[3], [3], new long[3], [3, 1], loss, gradInput: grad));
    }

    /// <summary>A 1-D input (C) takes a 0-D target (); a 1-D target is refused.</summary>
    [Fact]
    public void OneDimensionalInput_WithAOneDimensionalTarget_Throws()
    {
        ThrowsArgument("target", "Expected target to be 0D when input is 1D, but got target.dim =1", 1, 3, (loss, grad) =>
            Functional.NllLoss<float, long>(new float[3], [3], [0, 1, 2], [3], loss, gradInput: grad));
        // cross_entropy takes a target of the input's shape for probabilities, so its error is the target's type.
        ThrowsArgument("target", "Expected floating point type for target with class probabilities, got Long", 1, 3, (loss, grad) =>
            Functional.CrossEntropy<float, long>(new float[3], [3], [0, 1, 2], [3], loss, gradInput: grad));
        ThrowsArgument("target", "Expected floating point type for target with class probabilities, got Int", 1, 6, (loss, grad) =>
            Functional.CrossEntropy<float, int>(new float[6], [2, 3], new int[6], [2, 3], loss, labelSmoothing: 7, gradInput: grad));
        ThrowsArgument("target", "Expected floating point type for target with class probabilities, got Byte", 1, 6, (loss, grad) =>
            Functional.CrossEntropy<float, byte>(new float[6], [2, 3], new byte[6], [2, 3], loss, gradInput: grad));
        ThrowsArgument("target", "size mismatch (got input: [3], target: [2])", 1, 3, (loss, grad) =>
            Functional.NllLoss<float, long>(new float[3], [3], [0, 1], [2], loss, gradInput: grad));
        ThrowsArgument("target", "size mismatch (got input: [3], target: [1])", 1, 3, (loss, grad) =>
            Functional.CrossEntropy<float, long>(new float[3], [3], [1], [1], loss, gradInput: grad));
    }

    [Fact]
    public void ScalarInput_Throws()
    {
        ThrowsArgument("input", "Expected 1 or more dimensions (got 0)", 1, 1, (loss, grad) =>
            Functional.NllLoss<float, long>([1f], [], [0], [], loss, gradInput: grad));
        ThrowsArgument("target", "Expected floating point type for target with class probabilities, got Long", 1, 1, (loss, grad) =>
            Functional.CrossEntropy<float, long>([1f], [], [0], [], loss, gradInput: grad));
        ThrowsArgument("input", "Expected 1 or more dimensions (got 0)", 1, 1, (loss, grad) =>
            Functional.CrossEntropy<float>([1f], [], [1f], loss, gradInput: grad));
    }

    [Fact]
    public void SpanLengthNotMatchingItsShape_Throws()
    {
        ThrowsArgument("input", "'input' has 5 elements but its shape [2, 3] needs 6.", 1, 5, (loss, grad) =>
            Functional.CrossEntropy<float, long>(new float[5], [2, 3], [0, 0], [2], loss));
        ThrowsArgument("target", "'target' has 2 elements but its shape [3] needs 3.", 1, 9, (loss, grad) =>
            Functional.NllLoss<float, long>(new float[9], [3, 3], [0, 0], [3], loss, gradInput: grad));
        ThrowsArgument("input", "'input' has 5 elements but its shape [2, 3] needs 6.", 1, 5, (loss, _) =>
            Functional.CrossEntropy<float>(new float[5], [2, 3], new float[5], loss));
        ThrowsArgument("target", "Expected a target of class probabilities with the input's 6 elements, got 5.", 1, 6, (loss, grad) =>
            Functional.CrossEntropy<float>(new float[6], [2, 3], new float[5], loss, gradInput: grad));
    }

    [Fact]
    public void NegativeDimension_Throws()
    {
        ThrowsArgument("inputShape", "Shape [2, -3] of 'inputShape' has a negative dimension.", 1, 0, (loss, _) =>
            Functional.CrossEntropy<float, long>([], [2, -3], [0, 0], [2], loss));
        ThrowsArgument("targetShape", "Shape [-2] of 'targetShape' has a negative dimension.", 1, 0, (loss, _) =>
            Functional.NllLoss<float, long>([], [2, 0], [], [-2], loss));
    }

    // ---- Label smoothing ----

    [Theory]
    [InlineData(1.5, "1.5")]
    [InlineData(1.0000001, "1.0000001")]
    [InlineData(double.PositiveInfinity, "inf")]   // as PyTorch prints it
    public void LabelSmoothingAboveOne_Throws(double labelSmoothing, string printed)
    {
        string message = "label_smoothing must be between 0.0 and 1.0. Got: " + printed;
        ThrowsOutOfRange("labelSmoothing", message, 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], [0, 1, 2, 3], [4], loss, labelSmoothing: labelSmoothing, gradInput: grad));
        ThrowsOutOfRange("labelSmoothing", message, 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float>(s_input4x5, [4, 5], s_input4x5, loss, labelSmoothing: labelSmoothing, gradInput: grad));
    }

    [Fact]
    public void LabelSmoothing_FixedEntryPoint_Throws()
    {
        // Checked as a float: the message shows 1.1, not 1.100000023841858.
        ThrowsOutOfRange("labelSmoothing", "label_smoothing must be between 0.0 and 1.0. Got: 1.1", 0, 20, (_, grad) =>
            Functional.CrossEntropy(s_input4x5, 5, [0L, 1, 2, 3], grad, labelSmoothing: 1.1f));
    }

    /// <summary>PyTorch smooths only for ε &gt; 0 (and checks ε ≤ 1 there): a negative or NaN ε means no smoothing, for
    /// class and probability targets, in every entry point.</summary>
    [Theory]
    [InlineData(-0.1)]
    [InlineData(-1e30)]
    [InlineData(double.NaN)]
    [InlineData(double.NegativeInfinity)]
    public void LabelSmoothingNegativeOrNaN_MeansNone(double labelSmoothing)
    {
        long[] t = [0, 1, 2, 3];
        float[] probs = [.. s_input4x5.Select(v => MathF.Abs(v) / 3)];
        foreach (Reduction reduction in Enum.GetValues<Reduction>())
        {
            int n = reduction == Reduction.None ? 4 : 1;
            float[] loss = new float[n], grad = new float[20], loss0 = new float[n], grad0 = new float[20];
            float[] up = [.. Enumerable.Repeat(0.5f, n)];
            Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], t, [4], loss, reduction, [1, 2, 3, 4, 5], labelSmoothing: labelSmoothing, gradInput: grad, gradOutput: up);
            Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], t, [4], loss0, reduction, [1, 2, 3, 4, 5], gradInput: grad0, gradOutput: up);
            Assert.Equal(loss0, loss);
            Assert.Equal(grad0, grad);

            Functional.CrossEntropy<float>(s_input4x5, [4, 5], probs, loss, reduction, default, labelSmoothing, grad, up);
            Functional.CrossEntropy<float>(s_input4x5, [4, 5], probs, loss0, reduction, default, 0, grad0, up);
            Assert.Equal(loss0, loss);
            Assert.Equal(grad0, grad);
        }

        Assert.Equal(Functional.CrossEntropy(s_input4x5, 5, t, new float[20]), Functional.CrossEntropy(s_input4x5, 5, t, new float[20], labelSmoothing: (float)labelSmoothing));
        var module = new CrossEntropyLoss(labelSmoothing: labelSmoothing);
        Assert.Equal(labelSmoothing, module.LabelSmoothing);
    }

    [Fact]
    public void ProbabilityTargets_WeightCheckedBeforeSmoothing()
    {
        // PyTorch's cross_entropy_loss_prob_target checks the weight first.
        ThrowsArgument("weight", "cross_entropy: weight tensor should be defined either for all 5 classes or no classes but got weight tensor of shape: [3]", 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float>(s_input4x5, [4, 5], s_input4x5, loss, weight: [1, 1, 1], labelSmoothing: 1.5, gradInput: grad));
    }

    // ---- Probability targets and ignore_index ----

    [Theory]
    [InlineData(1L)]
    [InlineData(0L)]
    [InlineData(100L)]
    public void ProbabilityTargets_WithANonNegativeIgnoreIndex_Throws(long ignoreIndex)
    {
        ThrowsArgument("ignoreIndex", "ignore_index is not supported for floating point target", 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float>(s_input4x5, [4, 5], s_input4x5, loss, gradInput: grad, ignoreIndex: ignoreIndex));
    }

    [Fact]
    public void ProbabilityTargets_WithANegativeIgnoreIndex_IsAccepted()
    {
        float[] prob = Enumerable.Range(0, 20).Select(i => i % 3 / 2f).ToArray();
        float[] loss = new float[1], lossDefault = new float[1];
        float[] grad = new float[20], gradDefault = new float[20];
        Functional.CrossEntropy<float>(s_input4x5, [4, 5], prob, loss, gradInput: grad, ignoreIndex: -5);
        Functional.CrossEntropy<float>(s_input4x5, [4, 5], prob, lossDefault, gradInput: gradDefault);

        Assert.Equal(lossDefault, loss);
        Assert.Equal(gradDefault, grad);
        Assert.True(float.IsFinite(loss[0]) && loss[0] > 0);
    }

    // ---- Output lengths and the reduction ----

    [Fact]
    public void LossOfTheWrongLength_Throws()
    {
        ThrowsArgument("loss", "'loss' has 3 elements but reduction 'mean' produces 1.", 3, 20, (loss, grad) =>
            Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], [0, 1, 2, 3], [4], loss, Reduction.Mean, gradInput: grad));
        ThrowsArgument("loss", "'loss' has 2 elements but reduction 'none' produces 4.", 2, 20, (loss, grad) =>
            Functional.NllLoss<float, long>(s_input4x5, [4, 5], [0, 1, 2, 3], [4], loss, Reduction.None, gradInput: grad));
        ThrowsArgument("loss", "'loss' has 4 elements but reduction 'sum' produces 1.", 4, 20, (loss, grad) =>
            Functional.CrossEntropy<float>(s_input4x5, [4, 5], s_input4x5, loss, Reduction.Sum, gradInput: grad));

        // A 1-D input has no batch: even unreduced, its loss is one value.
        ThrowsArgument("loss", "'loss' has 5 elements but reduction 'none' produces 1.", 5, 5, (loss, grad) =>
            Functional.CrossEntropy<float, long>(s_input4x5.AsSpan(0, 5), [5], [1], [], loss, Reduction.None, gradInput: grad));
    }

    [Fact]
    public void GradInputOfTheWrongLength_Throws()
    {
        ThrowsArgument("gradInput", "'gradInput' has 19 elements but the input has 20.", 1, 19, (loss, grad) =>
            Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], [0, 1, 2, 3], [4], loss, gradInput: grad));
        ThrowsArgument("gradInput", "'gradInput' has 21 elements but the input has 20.", 1, 21, (loss, grad) =>
            Functional.NllLoss<float, long>(s_input4x5, [4, 5], [0, 1, 2, 3], [4], loss, gradInput: grad));
        ThrowsArgument("gradInput", "'gradInput' has 4 elements but the input has 20.", 1, 4, (loss, grad) =>
            Functional.CrossEntropy<float>(s_input4x5, [4, 5], s_input4x5, loss, gradInput: grad));
        ThrowsArgument("gradInput", "'gradInput' has 4 elements but the input has 20.", 0, 4, (_, grad) =>
            Functional.CrossEntropy(s_input4x5, 5, [0L, 1, 2, 3], grad));
    }

    [Fact]
    public void GradOutputOfTheWrongLength_Throws()
    {
        ThrowsArgument("gradOutput", "'gradOutput' has 2 elements but the loss it is the gradient of has 1.", 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], [0, 1, 2, 3], [4], loss, gradInput: grad, gradOutput: [1f, 1f]));
        ThrowsArgument("gradOutput", "'gradOutput' has 1 elements but the loss it is the gradient of has 4.", 4, 20, (loss, grad) =>
            Functional.NllLoss<float, long>(s_input4x5, [4, 5], [0, 1, 2, 3], [4], loss, Reduction.None, gradInput: grad, gradOutput: [1f]));
        ThrowsArgument("gradOutput", "'gradOutput' has 3 elements but the loss it is the gradient of has 4.", 4, 20, (loss, grad) =>
            Functional.CrossEntropy<float>(s_input4x5, [4, 5], s_input4x5, loss, Reduction.None, gradInput: grad, gradOutput: [1f, 1f, 1f]));
    }

    [Fact]
    public void InvalidReduction_Throws()
    {
        ThrowsOutOfRange("reduction", "3 is not a valid value for reduction", 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float, long>(s_input4x5, [4, 5], [0, 1, 2, 3], [4], loss, (Reduction)3, gradInput: grad));
        ThrowsOutOfRange("reduction", "-1 is not a valid value for reduction", 1, 20, (loss, grad) =>
            Functional.NllLoss<float, long>(s_input4x5, [4, 5], [0, 1, 2, 3], [4], loss, (Reduction)(-1), gradInput: grad));
        ThrowsOutOfRange("reduction", "7 is not a valid value for reduction", 1, 20, (loss, grad) =>
            Functional.CrossEntropy<float>(s_input4x5, [4, 5], s_input4x5, loss, (Reduction)7, gradInput: grad));
        Throws<ArgumentOutOfRangeException>("reduction", "5 is not a valid value for reduction", 0, 0, (_, _) =>
            ((Reduction)5).ToPyTorchString());
    }

    // ---- The fixed 2-D float entry points and MindSpore's op ----

    [Fact]
    public void FixedEntryPoints_ReductionNone_Throws()
    {
        const string message = "Reduction.None gives one loss per row; this overload returns a single value. Use the overload with a loss span.";
        ThrowsArgument("reduction", message, 0, 20, (_, grad) => Functional.CrossEntropy(s_input4x5, 5, [0L, 1, 2, 3], grad, Reduction.None));
        ThrowsArgument("reduction", message, 0, 20, (_, grad) => Functional.NllLoss(s_input4x5, 5, [0L, 1, 2, 3], grad, Reduction.None));
        ThrowsArgument("reduction", "Reduction.None gives one loss per label; use NllLoss with a loss span of the labels' length.", 0, 0,
            (_, _) => Functional.NllLossWithTotalWeight<float, long>(s_input4x5, [4, 5], [0, 1, 2, 3], reduction: Reduction.None));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void FixedEntryPoints_NonPositiveClasses_Throws(int classes)
    {
        float[] grad = Filled(20);
        var ce = Assert.Throws<ArgumentOutOfRangeException>(() => Functional.CrossEntropy(s_input4x5, classes, [0L, 1, 2, 3], grad));
        var nll = Assert.Throws<ArgumentOutOfRangeException>(() => Functional.NllLoss(s_input4x5, classes, [0L, 1, 2, 3], grad));
        foreach (ArgumentOutOfRangeException ex in new[] { ce, nll })
        {
            Assert.Equal("classes", ex.ParamName);
            Assert.Equal(classes, ex.ActualValue);
            Assert.StartsWith($"classes ('{classes}') must be a non-negative and non-zero value.", ex.Message);
        }

        Assert.All(grad, v => Assert.Equal(Sentinel, v));
    }

    [Fact]
    public void FixedEntryPoints_InputNotAMultipleOfClasses_Throws()
    {
        ThrowsArgument("input", "The input's length 7 is not a multiple of classes (3).", 0, 7, (_, grad) =>
            Functional.CrossEntropy(new float[7], 3, [0L, 0], grad));
        ThrowsArgument("input", "The input's length 20 is not a multiple of classes (6).", 0, 20, (_, grad) =>
            Functional.NllLoss(s_input4x5, 6, [0L, 0, 0], grad));
    }

    // ---- LogSoftmax ----

    [Fact]
    public void LogSoftmax_Errors()
    {
        ThrowsArgument("output", "'output' has 5 elements but the input has 6.", 0, 5, (_, output) =>
            Functional.LogSoftmax<float>(new float[6], [2, 3], 1, output));
        ThrowsArgument("input", "'input' has 6 elements but its shape [2, 4] needs 8.", 0, 6, (_, output) =>
            Functional.LogSoftmax<float>(new float[6], [2, 4], 1, output));
        ThrowsOutOfRange("dim", "Dimension out of range (expected to be in range of [-2, 1], but got 2)", 0, 6, (_, output) =>
            Functional.LogSoftmax<float>(new float[6], [2, 3], 2, output));
        ThrowsOutOfRange("dim", "Dimension out of range (expected to be in range of [-2, 1], but got -3)", 0, 6, (_, output) =>
            Functional.LogSoftmax<float>(new float[6], [2, 3], -3, output));
        ThrowsOutOfRange("dim", "Dimension out of range (expected to be in range of [-1, 0], but got 1)", 0, 1, (_, output) =>
            Functional.LogSoftmax<float>(new float[1], [], 1, output));
    }

    // ---- Unsupported element and target types ----

    private const string UnsupportedInt32 = "Element type Int32 of 'input' is not supported; use float, double, Half or BFloat16 for inputs and byte, sbyte, short, ushort, int, uint or long for class targets.";

    [Fact]
    public void UnsupportedElementType_ProbabilitiesAndLogSoftmax_Throw()
    {
        int[] ints = new int[6];
        var prob = Assert.Throws<NotSupportedException>(() => Functional.CrossEntropy<int>(ints, [2, 3], ints, new int[1]));
        var logSoftmax = Assert.Throws<NotSupportedException>(() => Functional.LogSoftmax<int>(ints, [2, 3], 1, new int[6]));
        Assert.Equal(UnsupportedInt32, prob.Message);
        Assert.Equal(UnsupportedInt32, logSoftmax.Message);
    }

    [Fact]
    public void UnsupportedElementType_ClassTargets_Throw()
    {
        int[] ints = [1, 2, 3, 4, 5, 6];
        int[] loss = Enumerable.Repeat(777, 1).ToArray();
        int[] grad = Enumerable.Repeat(777, 6).ToArray();
        var nll = Assert.Throws<NotSupportedException>(() => Functional.NllLoss<int, long>(ints, [2, 3], [0, 1], [2], loss, gradInput: grad));
        var ce = Assert.Throws<NotSupportedException>(() => Functional.CrossEntropy<int, long>(ints, [2, 3], [0, 1], [2], loss, gradInput: grad));
        var ms = Assert.Throws<NotSupportedException>(() => Functional.NllLossWithTotalWeight<int, long>(ints, [2, 3], [0, 1]));
        Assert.Equal(UnsupportedInt32, nll.Message);
        Assert.Equal(UnsupportedInt32, ce.Message);
        Assert.Equal(UnsupportedInt32, ms.Message);
        Assert.All(loss, v => Assert.Equal(777, v));
        Assert.All(grad, v => Assert.Equal(777, v));
    }

    [Fact]
    public void UnsupportedTargetType_Throws()
    {
        var ex = Assert.Throws<NotSupportedException>(() =>
            Functional.CrossEntropy<float, ulong>(new float[6], [2, 3], [0UL, 1UL], [2], new float[1]));
        Assert.Equal("Element type UInt64 of 'target' is not supported; use float, double, Half or BFloat16 for inputs and byte, sbyte, short, ushort, int, uint or long for class targets.", ex.Message);
    }

    // ---- Buffers that share memory ----

    private static string Shared(string read, string written) =>
        $"unsupported operation: some elements of '{read}' and the written-to '{written}' refer to a single memory location. Pass '{written}' a buffer of its own. (Parameter '{written}')";

    /// <summary>A gradient written over its own input (or any written buffer over another of the call) is refused before
    /// anything is written: the kernels read the input again after writing part of the gradient (a row or tile with a
    /// NaN goes to the general path, NLL clears the gradient before reading x_t), which gave wrong numbers silently.
    /// Neighbouring slices of one array that do not overlap are fine.</summary>
    [Fact]
    public unsafe void WrittenBuffersThatShareMemory_Throw()
    {
        float[] x = [.. Enumerable.Range(0, 40).Select(i => (float)Math.Cos(i))];
        float[] before = (float[])x.Clone();
        long[] t = [0, 1, 2, 3];
        void Refused(string read, string written, Action act)
        {
            var e = Assert.Throws<ArgumentException>(act);
            Assert.Equal(Shared(read, written), e.Message);
            Assert.Equal(written, e.ParamName);
            Assert.Equal(before, x);
        }

        Refused("input", "gradInput", () => Functional.CrossEntropy<float, long>(x.AsSpan(0, 20), [4, 5], t, [4], new float[1], gradInput: x.AsSpan(0, 20)));
        Refused("input", "gradInput", () => Functional.CrossEntropy<float, long>(x.AsSpan(0, 20), [4, 5], t, [4], new float[1], gradInput: x.AsSpan(19, 20)));
        Refused("input", "gradInput", () => Functional.NllLoss<float, long>(x.AsSpan(5, 20), [4, 5], t, [4], new float[1], gradInput: x.AsSpan(0, 20)));
        Refused("input", "loss", () => Functional.CrossEntropy<float, long>(x.AsSpan(0, 20), [4, 5], t, [4], x.AsSpan(10, 4), Reduction.None));
        Refused("target", "gradInput", () => Functional.CrossEntropy<float>(x.AsSpan(0, 20), [4, 5], x.AsSpan(20, 20), new float[1], gradInput: x.AsSpan(20, 20)));
        Refused("gradOutput", "loss", () => Functional.CrossEntropy<float, long>(x.AsSpan(0, 20), [4, 5], t, [4], x.AsSpan(20, 4), Reduction.None, gradOutput: x.AsSpan(22, 4)));
        Refused("gradInput", "loss", () => Functional.NllLoss<float, long>(x.AsSpan(0, 20), [4, 5], t, [4], x.AsSpan(20, 4), Reduction.None, gradInput: x.AsSpan(20, 20)));
        Refused("input", "output", () => Functional.LogSoftmax<float>(x.AsSpan(0, 20), [4, 5], 1, x.AsSpan(0, 20)));
        Refused("input", "output", () => Functional.LogSoftmax(new ReadOnlyTensorSpan<float>(x, [8, 5]), 0, new TensorSpan<float>(x, [8, 5])));
        fixed (float* p = x)
        fixed (long* pt = t)
        {
            nint px = (nint)p;
            nint ptt = (nint)pt;
            Refused("input", "gradInput", () => Functional.CrossEntropy<float, long>((float*)px, [4, 5], (long*)ptt, [4], null, gradInput: (float*)px + 3));
            // Targets are validated before the kernels run; a gradient over them (a reinterpreted buffer) would change them after.
            Refused("target", "gradInput", () => Functional.NllLoss<float, long>((float*)px, [4, 5], (long*)ptt, [4], null, gradInput: (float*)ptt));
        }

        // Neighbouring slices of one array: the input, then the gradient, then the per-position losses.
        float[] buffer = new float[44];
        x.AsSpan(0, 20).CopyTo(buffer);
        Functional.CrossEntropy<float, long>(buffer.AsSpan(0, 20), [4, 5], t, [4], buffer.AsSpan(40, 4), Reduction.None, gradInput: buffer.AsSpan(20, 20));
        var (loss, grad) = (new float[4], new float[20]);
        Functional.CrossEntropy<float, long>(x.AsSpan(0, 20), [4, 5], t, [4], loss, Reduction.None, gradInput: grad);
        Assert.Equal(loss, buffer[40..]);
        Assert.Equal(grad, buffer[20..40]);
    }

    // ---- Parallelism setting ----

    [Theory]
    [InlineData(0)]
    [InlineData(-4)]
    public void MaxDegreeOfParallelism_BelowOne_Throws(int value)
    {
        // Under the tests' lock, so that no other test changes the setting between the throw and the check.
        Threads.Run(3, () =>
        {
            var ex = Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.MaxDegreeOfParallelism = value);
            Assert.Equal("value", ex.ParamName);
            Assert.Equal(3, Parallelism.MaxDegreeOfParallelism);
        });
    }
}
