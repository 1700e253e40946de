namespace Xent.Tests.Library;

/// <summary>
/// The span entry points on random arguments, most of them wrong: shapes of any rank with negative, zero, small and
/// huge dimensions (products that overflow), buffers one element short or long, out-of-range targets, every
/// reduction and some that are not, smoothing outside [0, 1] or NaN, any dim. Every call either returns or throws an
/// <see cref="ArgumentException"/> (or a subclass) or <see cref="NotSupportedException"/>, never another exception,
/// and a call that throws leaves the loss, gradient and output buffers as they were. The kernels behind these entry
/// points work on pointers, so an argument that slipped past the checks could read or write out of bounds.
/// </summary>
public class ArgumentFuzzTests
{
    private const float Sentinel = 777f;

    private static readonly nint[] Dims = [-2, -1, 0, 1, 1, 2, 2, 3, 3, 4, 5, 7, 17, 1 << 31, nint.MaxValue / 2, nint.MaxValue];

    private static readonly long[] TargetValues = [-101, -100, -1, 0, 1, 2, 3, 4, 5, 6, 255, long.MaxValue, long.MinValue];

    [Fact]
    public void RandomArgumentsReturnOrThrowAnArgumentError()
    {
        const int Seed = 20_261_125;
        const int Iterations = 20_000;
        var random = new Random(Seed);
        int returned = 0;
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            nint[] inputShape = Shape(random, 0, 5);
            long count = Product(inputShape);
            int inputLength = Length(random, count);
            nint[] targetShape = random.Next(4) == 0 ? Shape(random, 0, 4) : [.. inputShape.Take(1), .. inputShape.Skip(2)];
            int targetLength = Length(random, Product(targetShape));
            int classes = inputShape.Length == 1 ? (int)Math.Clamp(inputShape[0], 0, 64) : inputShape.Length > 1 ? (int)Math.Clamp(inputShape[1], 0, 64) : 3;
            var reduction = (Reduction)random.Next(-1, 4);
            long positions = Product(targetShape);
            int lossLength = random.Next(5) switch
            {
                0 => 0,
                1 => 1,
                2 => Length(random, positions),
                _ => (int)Math.Clamp(positions, 0, 4096),
            };

            float[] input = [.. Enumerable.Range(0, inputLength).Select(i => random.Next(20) == 0 ? float.NaN : (float)Math.Sin(i))];
            long[] target = [.. Enumerable.Range(0, targetLength).Select(_ => random.Next(3) == 0 ? TargetValues[random.Next(TargetValues.Length)] : random.Next(Math.Max(1, classes)))];
            float[] weight = random.Next(3) switch { 0 => [], 1 => [.. Enumerable.Repeat(0.5f, Math.Max(0, classes + random.Next(-1, 2)))], _ => [.. Enumerable.Repeat(1.5f, classes)] };
            long ignoreIndex = TargetValues[random.Next(TargetValues.Length)];
            double smoothing = random.Next(6) switch { 0 => 0.1, 1 => 1.0, 2 => 1.5, 3 => -0.1, 4 => double.NaN, _ => 0.0 };
            float[] loss = Filled(lossLength);
            float[] grad = Filled(random.Next(3) == 0 ? 0 : Length(random, inputLength));
            float[] gradOutput = random.Next(3) == 0 ? [] : [.. Enumerable.Repeat(2f, random.Next(2) == 0 ? lossLength : Length(random, lossLength))];
            int entry = random.Next(7);
            string call = $"seed {Seed}, iteration {iteration}: entry {entry}, input [{string.Join(", ", inputShape)}] ({inputLength}), " +
                $"target [{string.Join(", ", targetShape)}] ({targetLength}), loss {lossLength}, grad {grad.Length}, gradOutput {gradOutput.Length}, " +
                $"weight {weight.Length}, {reduction}, ignore {ignoreIndex}, smoothing {smoothing}";
            float[] probabilities = [.. input.Select(v => Math.Abs(v) / 4)];
            try
            {
                switch (entry)
                {
                    case 0:
                        Functional.CrossEntropy<float, long>(input, inputShape, target, targetShape, loss, reduction, weight, ignoreIndex, smoothing, grad, gradOutput);
                        break;
                    case 1:
                        Functional.NllLoss<float, long>(input, inputShape, target, targetShape, loss, reduction, weight, ignoreIndex, grad, gradOutput);
                        break;
                    case 2:
                        int[] narrow = [.. target.Select(v => (int)v)];
                        Functional.CrossEntropy<float, int>(input, inputShape, narrow, targetShape, loss, reduction, weight, ignoreIndex, smoothing, grad, gradOutput);
                        break;
                    case 3:
                        byte[] bytes = [.. target.Select(v => (byte)v)];
                        Functional.NllLoss<float, byte>(input, inputShape, bytes, targetShape, loss, reduction, weight, ignoreIndex, grad, gradOutput);
                        break;
                    case 4:
                        Functional.CrossEntropy<float>(input, inputShape, probabilities.Length == inputLength ? probabilities : [], loss, reduction, weight, smoothing, grad, gradOutput, ignoreIndex);
                        break;
                    case 5:
                        Functional.LogSoftmax<float>(input, inputShape, random.Next(-6, 6), grad);
                        break;
                    default:
                        _ = Functional.NllLossWithTotalWeight<float, long>(input, inputShape, target, weight, reduction, ignoreIndex);
                        break;
                }

                returned++;
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                Assert.True(loss.All(v => v == Sentinel), $"{call}: threw {e.GetType().Name} ({e.Message}) after writing the loss");
                Assert.True(grad.All(v => v == Sentinel), $"{call}: threw {e.GetType().Name} ({e.Message}) after writing the gradient");
            }
            catch (Exception e)
            {
                Assert.Fail($"{call}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }

        // Most calls are wrong, but not all.
        Assert.InRange(returned, Iterations / 100, Iterations / 2);
    }

    /// <summary>No logits, but 2^60 positions (C = 0): the reduced probability-target loss and the log-softmax have
    /// nothing to compute, and once walked the positions one by one (found by the test above). They must return at once:
    /// the mean over no elements is NaN, the sum 0.</summary>
    [Fact]
    public async Task EmptyProblemsWithHugePositionCountsReturnAtOnce()
    {
        nint[] shape = [1 << 30, 0, 1 << 30];
        (float mean, float sum) = await Task.Run(() =>
        {
            var mean = new float[1];
            var sum = new float[] { Sentinel };
            Functional.CrossEntropy<float>([], shape, [], mean, Reduction.Mean, labelSmoothing: 0.1);
            Functional.CrossEntropy<float>([], shape, [], sum, Reduction.Sum);
            Functional.LogSoftmax<float>([], shape, 1, []);
            Functional.LogSoftmax<float>([], [0, 1 << 30, 1 << 30], 0, []);
            return (mean[0], sum[0]);
        }).WaitAsync(TimeSpan.FromSeconds(30));   // a TimeoutException if an empty problem does not return
        Assert.True(float.IsNaN(mean), $"mean {mean}");
        Assert.Equal(0f, sum);
    }

    /// <summary>A zero dimension beside others whose product overflows a long: no elements, but the kernels multiply
    /// subsets of the dimensions (the sizes before and after a softmax dim wrapped, and the loop over them ran for
    /// ever). Every entry point refuses the shape, naming it.</summary>
    [Fact]
    public void ZeroBesideOverflowingDimensionsIsAnArgumentError()
    {
        nint[] shape = [0, 5, 5, nint.MaxValue / 2];
        const string Message = "Shape [0, 5, 5, 4611686018427387903] of '{0}' has no elements, but its other dimensions multiply past a 64-bit count. (Parameter '{0}')";
        var e = Assert.Throws<ArgumentException>(() => Functional.LogSoftmax<float>([], shape, 0, []));
        Assert.Equal(string.Format(Message, "shape"), e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float>([], shape, [], new float[1]));
        Assert.Equal(string.Format(Message, "inputShape"), e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.NllLoss<float, long>([], shape, [], [0, 5, nint.MaxValue / 2], new float[1]));
        Assert.Equal(string.Format(Message, "inputShape"), e.Message);
        e = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy<float, long>([], [0, 3, 2], [], [5, 0, nint.MaxValue / 2], new float[1]));
        Assert.Equal(string.Format(Message, "targetShape").Replace("[0, 5, 5, 4611686018427387903]", "[5, 0, 4611686018427387903]"), e.Message);
    }

    /// <summary>The fused linear cross-entropy on random arguments: sizes that do or do not divide, every option
    /// (shift, sequence length, chunk rows, soft cap, z-loss, smoothing, class weights, gradient filtering) with valid
    /// and invalid values. A result, or an argument error that leaves the outputs as they were.</summary>
    [Fact]
    public void RandomLinearArgumentsReturnOrThrowAnArgumentError()
    {
        const int Seed = 20_261_125;
        const int Iterations = 5000;
        var random = new Random(Seed);
        int returned = 0;
        float[] odd = [-1f, 0f, 0.1f, 1f, 1.5f, 30f, float.NaN, float.PositiveInfinity];
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            int h = random.Next(5) == 0 ? random.Next(-1, 3) : random.Next(1, 40);
            int n = random.Next(0, 12), v = random.Next(0, 70);
            int hiddenLength = random.Next(6) == 0 ? random.Next(0, 50) : n * Math.Max(h, 0);
            int weightLength = random.Next(6) == 0 ? random.Next(0, 50) : v * Math.Max(h, 0);
            float[] hidden = [.. Enumerable.Range(0, hiddenLength).Select(i => (float)Math.Sin(i) * 2)];
            float[] weight = [.. Enumerable.Range(0, weightLength).Select(i => (float)Math.Cos(i))];
            float[] bias = random.Next(3) == 0 ? [.. Enumerable.Repeat(0.1f, Math.Max(0, v + random.Next(-1, 2)))] : [];
            long[] target = [.. Enumerable.Range(0, random.Next(4) == 0 ? random.Next(0, 12) : n).Select(_ => TargetValues[random.Next(TargetValues.Length)] % Math.Max(1, v + 2))];
            var options = new LinearCrossEntropyOptions
            {
                Reduction = (Reduction)random.Next(-1, 4),
                IgnoreIndex = TargetValues[random.Next(TargetValues.Length)],
                LabelSmoothing = random.Next(3) == 0 ? odd[random.Next(odd.Length)] : 0f,
                ClassWeight = random.Next(4) == 0 ? new float[Math.Max(0, v + random.Next(-1, 2))] : default,
                ZLossScale = random.Next(3) == 0 ? odd[random.Next(odd.Length)] : 0f,
                SoftCap = random.Next(3) == 0 ? odd[random.Next(odd.Length)] : 0f,
                Shift = random.Next(2) == 0,
                SequenceLength = random.Next(3) == 0 ? random.Next(-2, 6) : 0,
                FilterGradients = random.Next(2) == 0,
                ChunkRows = random.Next(3) == 0 ? random.Next(-2, 20) : 0,
            };
            float[] gradHidden = Filled(random.Next(3) == 0 ? 0 : random.Next(8) == 0 ? Math.Max(0, hiddenLength - 1) : hiddenLength);
            float[] gradWeight = Filled(random.Next(3) == 0 ? 0 : random.Next(8) == 0 ? weightLength + 1 : weightLength);
            float[] lse = Filled(random.Next(2) == 0 ? 0 : n);
            string call = $"seed {Seed}, iteration {iteration}: h {h}, n {n}, v {v}, hidden {hiddenLength}, weight {weightLength}, bias {bias.Length}, " +
                $"target {target.Length}, gradHidden {gradHidden.Length}, gradWeight {gradWeight.Length}, {options}";
            try
            {
                Functional.LinearCrossEntropy<float, long>(hidden, weight, bias, h, target,
                    new LinearCrossEntropyOutputs { GradHidden = gradHidden, GradWeight = gradWeight, Lse = lse }, options);
                returned++;
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                Assert.True(gradHidden.All(x => x == Sentinel) && gradWeight.All(x => x == Sentinel) && lse.All(x => x == Sentinel),
                    $"{call}: threw {e.GetType().Name} ({e.Message}) after writing an output");
            }
            catch (Exception e)
            {
                Assert.Fail($"{call}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }

        Assert.InRange(returned, Iterations / 100, Iterations / 2);
    }

    private static float[] Filled(int length) => [.. Enumerable.Repeat(Sentinel, length)];

    private static nint[] Shape(Random random, int minRank, int maxRank)
    {
        var shape = new nint[random.Next(minRank, maxRank + 1)];
        for (int i = 0; i < shape.Length; i++)
        {
            // Mostly small and positive, so that some shapes fit and the kernels run.
            shape[i] = random.Next(4) == 0 ? Dims[random.Next(Dims.Length)] : random.Next(1, 6);
        }

        return shape;
    }

    /// <summary>The product of the dimensions, or −1 where it is negative or past 2^20 (then no buffer can match).</summary>
    private static long Product(nint[] shape)
    {
        long product = 1;
        foreach (nint d in shape)
        {
            if (d < 0)
            {
                return -1;
            }

            product = d == 0 ? 0 : product > (1 << 20) / d ? (1 << 21) : product * d;
        }

        return product > 1 << 20 ? -1 : product;
    }

    /// <summary>A buffer length for <paramref name="count"/> elements: mostly right, sometimes one off or empty.</summary>
    private static int Length(Random random, long count) => count < 0
        ? random.Next(0, 8)
        : random.Next(8) switch
        {
            0 => (int)Math.Max(0, count - 1),
            1 => (int)count + 1,
            2 => 0,
            _ => (int)count,
        };
}
