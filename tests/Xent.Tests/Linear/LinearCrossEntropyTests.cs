using Xent.Kernels;
using Xent.Linear;
using Xent.Tests.Library;

namespace Xent.Tests.Linear;

/// <summary>The fused linear cross-entropy against <see cref="LinearReference"/> (float64, logits materialized) and
/// against <see cref="Functional.CrossEntropy(ReadOnlySpan{float}, int, ReadOnlySpan{long}, Span{float}, Reduction, ReadOnlySpan{float}, long, float)"/>
/// on float logits: every option and combination, ignored rows, chunk and tile boundaries, 16-bit inputs, thread
/// counts and every argument error.</summary>
public sealed class LinearCrossEntropyTests
{
    /// <summary>Every combination of bias, class weights, smoothing, z-loss, soft cap, shift and reduction.</summary>
    public static TheoryData<int> Combinations()
    {
        var data = new TheoryData<int>();
        for (int bits = 0; bits < 128; bits++) data.Add(bits);
        return data;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void EveryCombinationMatchesTheFloat64Reference(int bits)
    {
        var rng = new Random(1000 + bits);
        for (int trial = 0; trial < 3; trial++)
        {
            var p = Problem.Random(rng, n: rng.Next(1, 30), h: rng.Next(1, 40), v: rng.Next(1, 90), ignoredFraction: 0.2);
            var options = new LinearCrossEntropyOptions
            {
                ClassWeight = (bits & 2) != 0 ? p.ClassWeights(rng) : default,
                LabelSmoothing = (bits & 4) != 0 ? 0.15f : 0f,
                ZLossScale = (bits & 8) != 0 ? 0.02f : 0f,
                SoftCap = (bits & 16) != 0 ? 2.5f : 0f,
                Shift = (bits & 32) != 0,
                SequenceLength = (bits & 32) != 0 && p.N % 2 == 0 && trial == 1 ? 2 : 0,
                Reduction = (bits & 64) != 0 ? Reduction.Sum : Reduction.Mean,
                ChunkRows = trial == 0 ? 0 : rng.Next(1, 8),
            };
            p.Check(options, useBias: (bits & 1) != 0, $"bits {bits}, trial {trial}");
        }
    }

    /// <summary>The supported kernels by name (the enum is internal, theory parameters must be public).</summary>
    public static TheoryData<string> Kernels() => [.. Enum.GetValues<GemmIsa>().Where(GemmMicroKernels.IsSupported).Select(k => k.ToString())];

    [Theory]
    [MemberData(nameof(Kernels))]
    public void EveryKernelWidthMatchesTheReference(string kernel)
    {
        GemmIsa isa = Enum.Parse<GemmIsa>(kernel);

        // The 256-bit and scalar GEMM tiles and row kernels, which an AVX-512 machine would never pick.
        var rng = new Random(20 + (int)isa);
        for (int trial = 0; trial < 4; trial++)
        {
            var p = Problem.Random(rng, n: rng.Next(1, 30), h: rng.Next(1, 40), v: rng.Next(1, 90), ignoredFraction: 0.2);
            var options = new LinearCrossEntropyOptions
            {
                ClassWeight = trial % 2 == 0 ? p.ClassWeights(rng) : default, LabelSmoothing = 0.1f, ZLossScale = 0.01f,
                SoftCap = trial < 2 ? 3f : 0f, ChunkRows = rng.Next(1, 8), Isa = isa,
            };
            p.Check(options, useBias: true, $"{isa}, trial {trial}");
        }
    }

    /// <summary>Large vocabularies keep float's digits in every kernel width: the class weights' sum and each row's sums
    /// are added in double (in blocks for the latter). Summed in float, a smoothed, weighted loss over 200000 classes came
    /// out 5e-6 off, and an unweighted one over 50000 classes 9e-7 off with the scalar kernel.</summary>
    [Theory]
    [MemberData(nameof(Kernels))]
    public void LargeVocabularySumsKeepFloatAccuracy(string kernel)
    {
        GemmIsa isa = Enum.Parse<GemmIsa>(kernel);
        foreach (int v in new[] { 50_000, 200_000 })
        {
            foreach (bool weighted in new[] { false, true })
            {
                var rng = new Random(5);
                const int n = 4, h = 4;
                float[] hidden = [.. Enumerable.Range(0, n * h).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 1.7f)];
                float[] weight = [.. Enumerable.Range(0, v * h).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 1.25f)];
                float[] classWeight = [.. Enumerable.Range(0, v).Select(_ => (float)(0.2 + 1.8 * rng.NextDouble()))];
                long[] target = [.. Enumerable.Range(0, n).Select(_ => (long)rng.Next(v))];
                var options = new LinearCrossEntropyOptions { LabelSmoothing = 1f, Isa = isa, ClassWeight = weighted ? classWeight : default };
                var gradHidden = new float[n * h];
                LinearCrossEntropyResult r = Functional.LinearCrossEntropy<float, long>(hidden, weight, default, h, target,
                    new LinearCrossEntropyOutputs { GradHidden = gradHidden }, options);
                LinearReference.Result expected = LinearReference.Compute([.. hidden.Select(x => (double)x)], [.. weight.Select(x => (double)x)],
                    null, h, target, options);
                string what = $"{isa}, V = {v}, weighted {weighted}";
                Assert.True(Math.Abs(r.Loss - expected.Loss) <= 2e-7 * Math.Abs(expected.Loss), $"{what}: loss {r.Loss:R}, expected {expected.Loss:R}");
                double largest = expected.GradHidden.Max(Math.Abs);
                for (int i = 0; i < gradHidden.Length; i++)
                {
                    Assert.True(Math.Abs(gradHidden[i] - expected.GradHidden[i]) <= 1e-6 * largest,
                        $"{what}: gradHidden[{i}] {gradHidden[i]:R}, expected {expected.GradHidden[i]:R}");
                }
            }
        }
    }

    [Fact]
    public void ChunkBoundariesDoNotMatter()
    {
        var rng = new Random(2);
        var p = Problem.Random(rng, n: 37, h: 29, v: 101, ignoredFraction: 0.3);
        var options = new LinearCrossEntropyOptions { LabelSmoothing = 0.1f, ZLossScale = 0.01f };
        for (int chunk = 1; chunk <= 40; chunk += chunk < 8 ? 1 : 7)
        {
            p.Check(options with { ChunkRows = chunk }, useBias: true, $"chunk {chunk}");
        }
    }

    [Fact]
    public void LargerShapesCrossEveryTileAndBlockEdge()
    {
        // h > kc (512) and V > 512 + a partial column block; N with a partial last chunk.
        var rng = new Random(3);
        var p = Problem.Random(rng, n: 45, h: 530, v: 613, ignoredFraction: 0.1);
        p.Check(new LinearCrossEntropyOptions { ChunkRows = 13 }, useBias: true, "large");
        p.Check(new LinearCrossEntropyOptions { SoftCap = 3f, ZLossScale = 1e-3f }, useBias: false, "large default chunk");
    }

    [Fact]
    public void EqualsCrossEntropyOnTheMaterializedLogits()
    {
        var rng = new Random(4);
        var p = Problem.Random(rng, n: 33, h: 17, v: 75, ignoredFraction: 0.25);
        float[] classWeight = p.ClassWeights(rng).ToArray();
        foreach (Reduction reduction in new[] { Reduction.Mean, Reduction.Sum })
        {
            // The composition: float logits, the library's cross-entropy and its gradient, then the two products.
            var logits = new float[p.N * p.V];
            for (int r = 0; r < p.N; r++)
            {
                for (int c = 0; c < p.V; c++)
                {
                    double s = 0;
                    for (int k = 0; k < p.H; k++) s += (double)p.Hidden[r * p.H + k] * p.Weight[c * p.H + k];
                    logits[r * p.V + c] = (float)s;
                }
            }

            var gradLogits = new float[logits.Length];
            float expected = Functional.CrossEntropy(logits, p.V, p.Target, gradLogits, reduction, classWeight, -100, 0.2f);
            var expectedGradHidden = new double[p.N * p.H];
            var expectedGradWeight = new double[p.V * p.H];
            for (int r = 0; r < p.N; r++)
            {
                for (int c = 0; c < p.V; c++)
                {
                    for (int k = 0; k < p.H; k++)
                    {
                        expectedGradHidden[r * p.H + k] += gradLogits[r * p.V + c] * (double)p.Weight[c * p.H + k];
                        expectedGradWeight[c * p.H + k] += gradLogits[r * p.V + c] * (double)p.Hidden[r * p.H + k];
                    }
                }
            }

            var gradHidden = new float[p.N * p.H];
            var gradWeight = new float[p.V * p.H];
            var options = new LinearCrossEntropyOptions { Reduction = reduction, LabelSmoothing = 0.2f, ClassWeight = classWeight, ChunkRows = 5 };
            LinearCrossEntropyResult result = Functional.LinearCrossEntropy<float, long>(p.Hidden, p.Weight, default, p.H, p.Target,
                new LinearCrossEntropyOutputs { GradHidden = gradHidden, GradWeight = gradWeight }, options);
            Assert.Equal(expected, result.Loss, 1e-5 * (1 + Math.Abs(expected)));
            AssertClose(expectedGradHidden, gradHidden, "gradHidden");
            AssertClose(expectedGradWeight, gradWeight, "gradWeight");
        }
    }

    [Fact]
    public void FixedSignatureEqualsTheOptionsOverload()
    {
        var rng = new Random(5);
        var p = Problem.Random(rng, n: 20, h: 9, v: 40, ignoredFraction: 0.2, ignoreIndex: 3);
        var gh1 = new float[p.N * p.H];
        var gw1 = new float[p.V * p.H];
        float loss = Functional.LinearCrossEntropy(p.Hidden, p.Weight, p.H, p.Target, gh1, gw1, Reduction.Sum, ignoreIndex: 3, labelSmoothing: 0.05f);
        var gh2 = new float[p.N * p.H];
        var gw2 = new float[p.V * p.H];
        LinearCrossEntropyResult r = Functional.LinearCrossEntropy<float, long>(p.Hidden, p.Weight, default, p.H, p.Target,
            new LinearCrossEntropyOutputs { GradHidden = gh2, GradWeight = gw2 },
            new LinearCrossEntropyOptions { Reduction = Reduction.Sum, IgnoreIndex = 3, LabelSmoothing = 0.05f });
        Assert.Equal(r.Loss, loss);
        Assert.Equal(gh2, gh1);
        Assert.Equal(gw2, gw1);
        p.Check(new LinearCrossEntropyOptions { Reduction = Reduction.Sum, IgnoreIndex = 3, LabelSmoothing = 0.05f }, false, "ignore 3");

        // Forward only: both gradients empty.
        Assert.Equal(loss, Functional.LinearCrossEntropy(p.Hidden, p.Weight, p.H, p.Target, default, default, Reduction.Sum, 3, 0.05f));
    }

    [Fact]
    public void IgnoredRowsAreNeverRead()
    {
        // NaN hidden states in ignored rows must not reach the loss or any gradient (they are left out of the products).
        var rng = new Random(6);
        var p = Problem.Random(rng, n: 24, h: 11, v: 30, ignoredFraction: 0.4);
        float[] poisoned = (float[])p.Hidden.Clone();
        for (int r = 0; r < p.N; r++)
        {
            if (p.Target[r] == -100)
            {
                poisoned.AsSpan(r * p.H, p.H).Fill(float.NaN);
            }
        }

        var gh = new float[p.N * p.H];
        var gw = new float[p.V * p.H];
        float loss = Functional.LinearCrossEntropy(poisoned, p.Weight, p.H, p.Target, gh, gw);
        Assert.True(float.IsFinite(loss));
        Assert.All(gw, x => Assert.True(float.IsFinite(x)));
        for (int r = 0; r < p.N; r++)
        {
            if (p.Target[r] == -100)
            {
                Assert.All(gh.AsSpan(r * p.H, p.H).ToArray(), x => Assert.Equal(0f, x));
            }
        }

        p.Check(LinearCrossEntropyOptions.Default, false, "poison-free reference");
    }

    [Fact]
    public void ANaNInACountedRowMakesTheLossNaN()
    {
        var rng = new Random(12);
        var p = Problem.Random(rng, n: 10, h: 5, v: 40, ignoredFraction: 0);
        p.Hidden[3 * p.H + 2] = float.NaN;
        var gh = new float[p.N * p.H];
        Assert.True(float.IsNaN(Functional.LinearCrossEntropy(p.Hidden, p.Weight, p.H, p.Target, gh, default)));
        Assert.True(float.IsNaN(gh[3 * p.H]));
        Assert.All(gh.AsSpan(4 * p.H).ToArray(), x => Assert.True(float.IsFinite(x))); // gradH row i reads only G row i
    }

    [Fact]
    public void EveryRowIgnored()
    {
        var rng = new Random(7);
        var p = Problem.Random(rng, n: 6, h: 4, v: 5, ignoredFraction: 1.0);
        var gh = Enumerable.Repeat(9f, p.N * p.H).ToArray();
        var gw = Enumerable.Repeat(9f, p.V * p.H).ToArray();
        var gb = Enumerable.Repeat(9f, p.V).ToArray();
        var lse = new float[p.N];
        var outputs = new LinearCrossEntropyOutputs { GradHidden = gh, GradWeight = gw, GradBias = gb, Lse = lse };
        LinearCrossEntropyResult mean = Functional.LinearCrossEntropy<float, long>(p.Hidden, p.Weight, default, p.H, p.Target, outputs);
        Assert.True(float.IsNaN(mean.Loss));
        Assert.True(float.IsNaN(mean.Accuracy));
        Assert.Equal(0, mean.Count);
        Assert.All(gh, x => Assert.Equal(0f, x));
        Assert.All(gw, x => Assert.Equal(0f, x));
        Assert.All(gb, x => Assert.Equal(0f, x));
        Assert.All(lse, x => Assert.True(float.IsNaN(x)));
        Assert.Equal(0f, Functional.LinearCrossEntropy(p.Hidden, p.Weight, p.H, p.Target, gh, gw, Reduction.Sum));

        // An empty batch: the same.
        Assert.True(float.IsNaN(Functional.LinearCrossEntropy([], p.Weight, p.H, [], [], [])));
    }

    [Fact]
    public void HalfAndBFloat16AreFloatOnTheWidenedValues()
    {
        // 16-bit inputs are widened exactly while packing and everything else is float32, so the result must be the
        // float path's on the widened values, bit for bit — and close to the float64 reference.
        var rng = new Random(8);
        var p = Problem.Random(rng, n: 27, h: 33, v: 70, ignoredFraction: 0.2);
        var options = new LinearCrossEntropyOptions { ZLossScale = 0.01f, SoftCap = 4f, LabelSmoothing = 0.1f, ChunkRows = 6 };
        Half[] bh = [.. p.Bias.Select(x => (Half)x)];
        Half[] hh = [.. p.Hidden.Select(x => (Half)x)], wh = [.. p.Weight.Select(x => (Half)x)];
        BFloat16[] hb = [.. p.Hidden.Select(x => (BFloat16)x)], wb = [.. p.Weight.Select(x => (BFloat16)x)];
        BFloat16[] bb = [.. p.Bias.Select(x => (BFloat16)x)];
        Outputs half = Outputs.Run<Half>(hh, wh, bh, p, options);
        Outputs viaFloat = Outputs.Run<float>([.. hh.Select(x => (float)x)], [.. wh.Select(x => (float)x)], [.. bh.Select(x => (float)x)], p, options);
        half.AssertIdentical(viaFloat);
        Outputs bf16 = Outputs.Run<BFloat16>(hb, wb, bb, p, options);
        viaFloat = Outputs.Run<float>([.. hb.Select(x => (float)x)], [.. wb.Select(x => (float)x)], [.. bb.Select(x => (float)x)], p, options);
        bf16.AssertIdentical(viaFloat);

        var rounded = p with
        {
            Hidden = [.. hb.Select(x => (float)x)], Weight = [.. wb.Select(x => (float)x)], Bias = [.. bb.Select(x => (float)x)],
        };
        rounded.Check(options, useBias: true, "bfloat16", bf16);
    }

    [Fact]
    public void ThreadCountDoesNotChangeTheBits()
    {
        // Large enough that the GEMMs, the row kernel and the column sums all run on several workers.
        var rng = new Random(9);
        var p = Problem.Random(rng, n: 70, h: 64, v: 2100, ignoredFraction: 0.1);
        var options = new LinearCrossEntropyOptions { LabelSmoothing = 0.1f, ZLossScale = 1e-3f, SoftCap = 5f, ChunkRows = 32 };
        Outputs one = Threads.Run(1, () => Outputs.Run<float>(p.Hidden, p.Weight, p.Bias, p, options));
        foreach (int threads in new[] { 2, 3 })
        {
            Threads.Run(threads, () => Outputs.Run<float>(p.Hidden, p.Weight, p.Bias, p, options)).AssertIdentical(one);
        }
    }

    [Fact]
    public void ShiftScoresRowIAgainstTargetIPlusOne()
    {
        // Shift over sequences of 5 equals the unshifted loss on rows 0..3 of each sequence with targets 1..4.
        var rng = new Random(10);
        var p = Problem.Random(rng, n: 20, h: 7, v: 23, ignoredFraction: 0.15);
        var shifted = new LinearCrossEntropyOptions { Shift = true, SequenceLength = 5, LabelSmoothing = 0.1f };
        var manualTarget = new long[p.N];
        for (int r = 0; r < p.N; r++) manualTarget[r] = (r + 1) % 5 == 0 ? -100 : p.Target[r + 1];
        Outputs a = Outputs.Run<float>(p.Hidden, p.Weight, p.Bias, p, shifted);
        Outputs b = Outputs.Run<float>(p.Hidden, p.Weight, p.Bias, p with { Target = manualTarget }, shifted with { Shift = false, SequenceLength = 0 });
        a.AssertIdentical(b);
    }

    [Fact]
    public void AccuracyTakesTheFirstOfTiedMaxima()
    {
        // Zero hidden states: every logit is 0, so the argmax is class 0 (as torch.argmax).
        long[] target = [0, 1, 0, 2, -100];
        float[] hidden = new float[5 * 3];
        float[] weight = [.. Enumerable.Range(0, 4 * 3).Select(i => i * 0.1f)];
        LinearCrossEntropyResult r = Functional.LinearCrossEntropy<float, long>(hidden, weight, default, 3, target);
        Assert.Equal(0.5f, r.Accuracy);
        Assert.Equal(4, r.Count);
        Assert.Equal((float)Math.Log(4), r.Loss, 1e-6f);
    }

    [Fact]
    public void GradientFilteringDropsOnlyNegligibleBlocks()
    {
        // A peaked distribution: the bias pushes every class but the first 300 of 1500 to −60, where p < 1e-26.
        var rng = new Random(11);
        var p = Problem.Random(rng, n: 40, h: 16, v: 1500, ignoredFraction: 0.1, maxTarget: 300);
        for (int c = 300; c < p.V; c++) p.Bias[c] = -60f;
        var options = new LinearCrossEntropyOptions { ZLossScale = 1e-3f, ChunkRows = 16 };
        Outputs full = Outputs.Run<float>(p.Hidden, p.Weight, p.Bias, p, options);
        Outputs filtered = Outputs.Run<float>(p.Hidden, p.Weight, p.Bias, p, options with { FilterGradients = true });

        // The forward pass is untouched; the skipped blocks' gradients are exactly 0 instead of below 1e-26.
        Assert.Equal(full.Result, filtered.Result);
        Assert.Equal(full.Lse, filtered.Lse);
        Assert.All(filtered.GradWeight.AsSpan(512 * p.H).ToArray(), x => Assert.Equal(0f, x));
        Assert.All(filtered.GradBias.AsSpan(512).ToArray(), x => Assert.Equal(0f, x));
        Assert.Contains(full.GradBias.AsSpan(512).ToArray(), x => x != 0f);
        AssertClose(full.GradHidden.Select(x => (double)x).ToArray(), filtered.GradHidden, "gradHidden");
        AssertClose(full.GradWeight.Select(x => (double)x).ToArray(), filtered.GradWeight, "gradWeight");
        p.Check(options with { FilterGradients = true }, useBias: true, "filtered vs reference");

        // With smoothing every column carries ε/V, so nothing may be dropped.
        var smoothing = options with { LabelSmoothing = 0.1f };
        Assert.Equal(Outputs.Run<float>(p.Hidden, p.Weight, p.Bias, p, smoothing).GradWeight,
            Outputs.Run<float>(p.Hidden, p.Weight, p.Bias, p, smoothing with { FilterGradients = true }).GradWeight);
    }

    [Fact]
    public void DefaultChunkKeepsTheLogitsBlockWithinAThirtySecond()
    {
        Assert.Equal(64, LinearCrossEntropyDriver.ChunkRows(2048, 2048, 0));
        Assert.Equal(256, LinearCrossEntropyDriver.ChunkRows(8192, 8192, 0));
        Assert.Equal(16, LinearCrossEntropyDriver.ChunkRows(100, 100, 0));
        Assert.Equal(7, LinearCrossEntropyDriver.ChunkRows(100, 7, 0));
        Assert.Equal(3, LinearCrossEntropyDriver.ChunkRows(100, 50, 3));
        for (int n = 512; n < 100_000; n = n * 3 / 2)
        {
            Assert.True(LinearCrossEntropyDriver.ChunkRows(n, n, 0) * 32 <= n + 31);
        }
    }

    [Fact]
    public void ArgumentErrorsNameTheParameterAndWriteNothing()
    {
        float[] hidden = new float[6], weight = new float[12];
        long[] target = [0, 1, 2];
        var gh = Enumerable.Repeat(7f, 6).ToArray();
        void Expect<TException>(string param, string message, Action call)
            where TException : ArgumentException
        {
            var ex = Assert.Throws<TException>(call);
            Assert.Equal(param, ex.ParamName);
            Assert.StartsWith(message, ex.Message);
            Assert.All(gh, x => Assert.Equal(7f, x));
        }

        LinearCrossEntropyResult Rich(LinearCrossEntropyOptions? o = null, int biasLength = 0, int lseLength = 0, long[]? t = null) =>
            Functional.LinearCrossEntropy<float, long>(hidden, weight, new float[biasLength], 2, t ?? target,
                new LinearCrossEntropyOutputs { GradHidden = gh, Lse = new float[lseLength] }, o);

        Expect<ArgumentOutOfRangeException>("hiddenSize", "hiddenSize ('0') must be a non-negative and non-zero value.",
            () => Functional.LinearCrossEntropy(hidden, weight, 0, target, gh, default));
        Expect<ArgumentException>("hidden", "The hidden states' length 6 is not a multiple of hiddenSize (4).",
            () => Functional.LinearCrossEntropy(hidden, new float[8], 4, target, gh, default));
        Expect<ArgumentException>("weight", "The weight's length 11 is not a positive multiple of hiddenSize (2)",
            () => Functional.LinearCrossEntropy(hidden, new float[11], 2, target, gh, default));
        Expect<ArgumentException>("weight", "The weight's length 0 is not a positive multiple of hiddenSize (2)",
            () => Functional.LinearCrossEntropy(hidden, [], 2, target, gh, default));
        Expect<ArgumentException>("target", "Expected input batch_size (3) to match target batch_size (2).",
            () => Functional.LinearCrossEntropy(hidden, weight, 2, [0, 1], gh, default));
        Expect<ArgumentException>("bias", "'bias' has 5 elements but the weight has 6 rows.", () => Rich(biasLength: 5));
        Expect<ArgumentException>("reduction", "Reduction.None gives one loss per row",
            () => Functional.LinearCrossEntropy(hidden, weight, 2, target, gh, default, Reduction.None));
        Expect<ArgumentOutOfRangeException>("reduction", "7 is not a valid value for reduction",
            () => Functional.LinearCrossEntropy(hidden, weight, 2, target, gh, default, (Reduction)7));
        Expect<ArgumentOutOfRangeException>("labelSmoothing", "label_smoothing must be between 0.0 and 1.0. Got: 1.5",
            () => Functional.LinearCrossEntropy(hidden, weight, 2, target, gh, default, labelSmoothing: 1.5f));
        Expect<ArgumentOutOfRangeException>("labelSmoothing", "label_smoothing must be between 0.0 and 1.0. Got: 1.1",
            () => Functional.LinearCrossEntropy(hidden, weight, 2, target, gh, default, labelSmoothing: 1.1f));
        Expect<ArgumentOutOfRangeException>("zLossScale", "The z-loss scale must be finite and non-negative. Got: -1",
            () => Rich(new LinearCrossEntropyOptions { ZLossScale = -1 }));
        Expect<ArgumentOutOfRangeException>("softCap", "The logit soft cap must be finite and non-negative (0 for none). Got: NaN",
            () => Rich(new LinearCrossEntropyOptions { SoftCap = float.NaN }));
        Expect<ArgumentOutOfRangeException>("sequenceLength", "The sequence length must be non-negative (0 for one sequence). Got: -2",
            () => Rich(new LinearCrossEntropyOptions { SequenceLength = -2 }));
        Expect<ArgumentException>("sequenceLength", "3 rows are not a whole number of sequences of length 2.",
            () => Rich(new LinearCrossEntropyOptions { Shift = true, SequenceLength = 2 }));
        Expect<ArgumentOutOfRangeException>("chunkRows", "The chunk rows must be non-negative (0 to choose). Got: -1",
            () => Rich(new LinearCrossEntropyOptions { ChunkRows = -1 }));
        Expect<ArgumentException>("classWeight", "weight tensor should be defined either for all 6 classes or no classes but got weight tensor of shape: [2]",
            () => Rich(new LinearCrossEntropyOptions { ClassWeight = new float[2] }));
        Expect<ArgumentException>("gradHidden", "'gradHidden' has 5 elements but the hidden states need 6.",
            () => Functional.LinearCrossEntropy(hidden, weight, 2, target, new float[5], default));
        Expect<ArgumentException>("gradWeight", "'gradWeight' has 5 elements but the weight need 12.",
            () => Functional.LinearCrossEntropy(hidden, weight, 2, target, gh, new float[5]));
        Expect<ArgumentException>("lse", "'lse' has 2 elements but the rows need 3.", () => Rich(lseLength: 2));
        Expect<ArgumentOutOfRangeException>("target", "Target 6 is out of bounds.",
            () => Functional.LinearCrossEntropy(hidden, weight, 2, [0, 6, 1], gh, default));
        Expect<ArgumentOutOfRangeException>("target", "Target -1 is out of bounds.",
            () => Functional.LinearCrossEntropy(hidden, weight, 2, [0, -1, 1], gh, default));

        // Outputs need memory of their own: they are cleared before the inputs are read.
        Expect<ArgumentException>("gradHidden", "unsupported operation: some elements of 'hidden' and the written-to 'gradHidden' refer to a single memory location.",
            () => Functional.LinearCrossEntropy(gh, weight, 2, target, gh, default));
        Expect<ArgumentException>("gradWeight", "unsupported operation: some elements of 'weight' and the written-to 'gradWeight' refer to a single memory location.",
            () => Functional.LinearCrossEntropy(hidden, weight, 2, target, default, weight.AsSpan(0, 12)));
        Expect<ArgumentException>("gradHidden", "unsupported operation: some elements of 'lse' and the written-to 'gradHidden' refer to a single memory location.",
            () => Functional.LinearCrossEntropy<float, long>(hidden, weight, default, 2, target, new LinearCrossEntropyOutputs { GradHidden = gh, Lse = gh.AsSpan(3, 3) }));

        // ignore_index is tested before the bounds; with Shift the first target is never read.
        Functional.LinearCrossEntropy(hidden, weight, 2, [0, 77, 1], default, default, ignoreIndex: 77);
        Rich(new LinearCrossEntropyOptions { Shift = true }, t: [99, 1, 2]);

        Assert.Throws<NotSupportedException>(() =>
            Functional.LinearCrossEntropy<double, long>(new double[6], new double[12], default, 2, target));
        Assert.Throws<NotSupportedException>(() =>
            Functional.LinearCrossEntropy<float, ulong>(hidden, weight, default, 2, new ulong[3]));
    }

    private static void AssertClose(double[] expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Length == 0 ? 0 : expected.Max(Math.Abs);
        double tol = 1e-6 + 2e-5 * scale;
        for (int i = 0; i < expected.Length; i++)
        {
            if (!(Math.Abs(expected[i] - actual[i]) <= tol))
            {
                Assert.Fail($"{what}[{i}] = {actual[i]}, expected {expected[i]} (tolerance {tol:G3})");
            }
        }
    }

    /// <summary>Every output of one call.</summary>
    private sealed record Outputs(LinearCrossEntropyResult Result, float[] GradHidden, float[] GradWeight, float[] GradBias,
        float[] Lse, float[] Loss)
    {
        public static Outputs Run<T>(T[] hidden, T[] weight, T[]? bias, Problem p, LinearCrossEntropyOptions options)
            where T : unmanaged
        {
            var o = new Outputs(default, new float[p.N * p.H], new float[p.V * p.H], new float[p.V], new float[p.N], new float[p.N]);
            LinearCrossEntropyResult r = Functional.LinearCrossEntropy<T, long>(hidden, weight, bias, p.H, p.Target,
                new LinearCrossEntropyOutputs { GradHidden = o.GradHidden, GradWeight = o.GradWeight, GradBias = o.GradBias, Lse = o.Lse, Loss = o.Loss },
                options);
            return o with { Result = r };
        }

        public void AssertIdentical(Outputs other)
        {
            Assert.Equal(other.Result, Result);
            Assert.Equal(other.GradHidden, GradHidden);
            Assert.Equal(other.GradWeight, GradWeight);
            Assert.Equal(other.GradBias, GradBias);
            Assert.Equal(other.Lse, Lse);
            Assert.Equal(other.Loss, Loss);
        }
    }

    /// <summary>A random problem: hidden (N × h), weight (V × h), bias (V) and targets, some ignored.</summary>
    private sealed record Problem(int N, int H, int V, float[] Hidden, float[] Weight, float[] Bias, long[] Target, long IgnoreIndex)
    {
        public static Problem Random(Random rng, int n, int h, int v, double ignoredFraction, long ignoreIndex = -100, int maxTarget = int.MaxValue)
        {
            // Scaled so logits are O(1..5): soft-capping and the exponentials both matter.
            float scale = 2.5f / MathF.Sqrt(h);
            float[] hidden = [.. Enumerable.Range(0, n * h).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 1.7f)];
            float[] weight = [.. Enumerable.Range(0, v * h).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale)];
            float[] bias = [.. Enumerable.Range(0, v).Select(_ => (float)(rng.NextDouble() - 0.5))];
            long[] target = [.. Enumerable.Range(0, n).Select(_ => rng.NextDouble() < ignoredFraction ? ignoreIndex : rng.Next(Math.Min(v, maxTarget)))];
            return new Problem(n, h, v, hidden, weight, bias, target, ignoreIndex);
        }

        public ReadOnlyMemory<float> ClassWeights(Random rng) => Enumerable.Range(0, V).Select(_ => (float)(0.2 + 1.8 * rng.NextDouble())).ToArray();

        /// <summary>Runs the fused loss (or takes <paramref name="actual"/>) and compares every output with the reference.</summary>
        public void Check(LinearCrossEntropyOptions options, bool useBias, string what, Outputs? actual = null)
        {
            options = options with { IgnoreIndex = IgnoreIndex };
            actual ??= Outputs.Run(Hidden, Weight, useBias ? Bias : null, this, options);
            LinearReference.Result expected = LinearReference.Compute([.. Hidden.Select(x => (double)x)], [.. Weight.Select(x => (double)x)],
                useBias ? [.. Bias.Select(x => (double)x)] : null, H, Target, options);
            LinearCrossEntropyResult r = actual.Result;
            Assert.True(Close(expected.Loss, r.Loss), $"{what}: loss {r.Loss}, expected {expected.Loss}");
            Assert.True(Close(expected.ZLoss, r.ZLoss), $"{what}: z-loss {r.ZLoss}, expected {expected.ZLoss}");
            Assert.True(expected.Accuracy.Equals((double)r.Accuracy) || Math.Abs(expected.Accuracy - r.Accuracy) < 1e-6,
                $"{what}: accuracy {r.Accuracy}, expected {expected.Accuracy}");
            Assert.Equal(expected.TotalWeight, r.TotalWeight, 1e-9);
            Assert.Equal(expected.Count, r.Count);
            AssertClose(expected.GradHidden, actual.GradHidden, what + " gradHidden");
            AssertClose(expected.GradWeight, actual.GradWeight, what + " gradWeight");
            AssertClose(expected.GradBias, actual.GradBias, what + " gradBias");
            for (int i = 0; i < N; i++)
            {
                Assert.True(double.IsNaN(expected.Lse[i]) ? float.IsNaN(actual.Lse[i]) : Close(expected.Lse[i], actual.Lse[i]),
                    $"{what}: lse[{i}] {actual.Lse[i]}, expected {expected.Lse[i]}");
                Assert.True(Close(expected.RowLoss[i], actual.Loss[i]), $"{what}: loss[{i}] {actual.Loss[i]}, expected {expected.RowLoss[i]}");
            }
        }

        private static bool Close(double expected, float actual) =>
            double.IsNaN(expected) ? float.IsNaN(actual) : Math.Abs(expected - actual) <= 2e-5 * (1 + Math.Abs(expected));
    }
}
