namespace Xent.Tests.Library;

/// <summary>The fused float32 kernels against the library's float64 path, which runs the general TensorPrimitives
/// code: every branch of the fast path (scratch row, recomputed exps for long rows, non-temporal stores, the K-dim
/// kernel across positions and its fallbacks) must agree with it.</summary>
public sealed class FastPathTests
{
    private static (float[] X, long[] T) Data(int seed, long elements, long positions, int classes, double ignoreRate = 0.1)
    {
        var rnd = new Random(seed);
        var x = new float[elements];
        for (long i = 0; i < x.LongLength; i++) x[i] = (float)(rnd.NextDouble() * 12 - 6);
        var t = new long[positions];
        for (long i = 0; i < t.LongLength; i++) t[i] = rnd.NextDouble() < ignoreRate ? -100 : rnd.Next(classes);
        return (x, t);
    }

    /// <summary>Cross-entropy of (N, C) class-target rows without reduction in "float", "half" or "bfloat16" (x rounded to
    /// the type), the losses and, with <paramref name="withGrad"/>, the gradient (else empty) as doubles.</summary>
    private static (double[] Loss, double[] Grad) ClassRowsIn(string type, float[] x, int n, int c, long[] t, bool withGrad)
    {
        (double[], double[]) Run<T>(Func<float, T> to, Func<T, double> back)
            where T : unmanaged
        {
            var l = new T[n];
            var g = new T[withGrad ? x.Length : 0];
            Functional.CrossEntropy<T, long>([.. x.Select(to)], [n, c], t, [n], l, Reduction.None, gradInput: withGrad ? g : default);
            return ([.. l.Select(back)], [.. g.Select(back)]);
        }

        return type switch
        {
            "half" => Run(v => (Half)v, v => (double)v),
            "bfloat16" => Run(v => (BFloat16)v, v => (double)(float)v),
            _ => Run(v => v, v => (double)v),
        };
    }

    private static void AssertClose(double expected, double actual, double tol, string what)
    {
        if (double.IsNaN(expected)) { Assert.True(double.IsNaN(actual), $"{what}: expected NaN, got {actual}"); return; }
        Assert.True(Math.Abs(expected - actual) <= tol * (1 + Math.Abs(expected)), $"{what}: expected {expected:R}, got {actual:R}");
    }

    /// <summary>A float loss and gradient computed by <paramref name="run"/>.</summary>
    private delegate void LossAndGradient(Span<float> loss, Span<float> gradient);

    /// <summary>Runs <paramref name="run"/> with its gradient at several offsets into a buffer 16 floats longer (so at
    /// every alignment a streamed store can meet): each must leave the rest of the buffer untouched and give the first
    /// offset's bits. Returns the first offset's loss and gradient, for the caller's float64 comparison.</summary>
    private static (float[] Loss, float[] Gradient) SameBitsAtEveryOffset(int length, int lossLength, LossAndGradient run)
    {
        (float[] Loss, float[] Gradient)? first = null;
        foreach (int offset in new[] { 0, 1, 5, 13, 15 })
        {
            var buffer = new float[length + 16];
            var loss = new float[lossLength];
            run(loss, buffer.AsSpan(offset, length));
            float[] grad = buffer.AsSpan(offset, length).ToArray();
            Assert.True(buffer.AsSpan(0, offset).ToArray().All(v => v == 0f) && buffer.AsSpan(offset + length).ToArray().All(v => v == 0f),
                $"offset {offset}: wrote outside the gradient");
            if (first is not { } f)
            {
                first = (loss, grad);
                continue;
            }

            for (int i = 0; i < length; i++)
            {
                if (BitConverter.SingleToInt32Bits(f.Gradient[i]) != BitConverter.SingleToInt32Bits(grad[i]))
                {
                    Assert.Fail($"offset {offset}: grad[{i}] = {grad[i]:R}, at offset 0 {f.Gradient[i]:R}");
                }
            }
        }

        return first!.Value;
    }

    private static void Compare(float[] x, nint[] shape, long[] t, nint[] tshape, Reduction reduction, double eps, bool weights)
    {
        int c = (int)(shape.Length == 1 ? shape[0] : shape[1]);
        float[]? w = weights ? [.. Enumerable.Range(0, c).Select(i => 0.25f + (i % 7) * 0.3f)] : null;
        long positions = t.LongLength;
        long lossLength = reduction == Reduction.None ? positions : 1;
        var lossF = new float[lossLength];
        var gradF = new float[x.LongLength];
        Functional.CrossEntropy<float, long>(x, shape, t, tshape, lossF, reduction, w, -100, eps, gradF);
        var lossD = new double[lossLength];
        var gradD = new double[x.LongLength];
        double[]? wd = w is null ? null : [.. w.Select(v => (double)v)];
        Functional.CrossEntropy<double, long>([.. x.Select(v => (double)v)], shape, t, tshape, lossD, reduction, wd, -100, eps, gradD);
        for (long i = 0; i < lossLength; i++) AssertClose(lossD[i], lossF[i], 2e-5, $"loss[{i}]");
        for (long i = 0; i < gradD.LongLength; i++) AssertClose(gradD[i], gradF[i], 2e-5, $"grad[{i}]");
    }

    public static TheoryData<int> ClassCounts() => [.. Enumerable.Range(1, 130)];

    [Theory]
    [MemberData(nameof(ClassCounts))]
    public void RowsOfEveryRemainderMatchFloat64(int classes)
    {
        (float[] x, long[] t) = Data(classes, 3L * classes, 3, classes);
        Compare(x, [3, classes], t, [3], Reduction.None, 0, weights: false);
        Compare(x, [3, classes], t, [3], Reduction.Mean, 0.2, weights: true);
    }

    /// <summary>Class-target rows with logits far from their first one and from their target: row 1's last logit lies 75
    /// above its first (e^75 ≈ 2^108), row 2's 100 above, row 3's first 100 below the rest, and row 4 has two logits 88.5
    /// above its first, in two chunks of the forward pass when it is long enough (each chunk's sum is finite, their total
    /// is not); the target sits on a far logit in some rows. The loss alone takes its exps against the target's logit and
    /// redoes, against the max, a row whose sum overflows or passes 2^100; with the gradient the exps are against the max.
    /// float32, float16 and bfloat16 (against float64 on their own values), forward only and with the gradient.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(17)]
    [InlineData(33)]
    [InlineData(130)]
    [InlineData(4097)]    // two chunks of the forward pass
    [InlineData(40_000)]
    public void ClassRowsFarFromTheirFirstLogitMatchFloat64(int classes)
    {
        const int n = 5;
        var rnd = new Random(classes + 5);
        var x = new float[n * classes];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rnd.NextDouble() * 6 - 3);
        x[classes + classes - 1] = x[classes] + 75f;
        x[2 * classes + classes - 1] = x[2 * classes] + 100f;
        x[3 * classes] -= 100f;
        x[4 * classes + classes / 2] = x[4 * classes] + 88.5f;
        x[4 * classes + classes - 1] = x[4 * classes] + 88.5f;
        long[] t = [0, classes - 1, classes / 2, classes - 1, classes / 2];
        foreach (string type in new[] { "float", "half", "bfloat16" })
        {
            double[] xd = type switch
            {
                "half" => [.. x.Select(v => (double)(Half)v)],
                "bfloat16" => [.. x.Select(v => (double)(float)(BFloat16)v)],
                _ => [.. x.Select(v => (double)v)],
            };
            foreach (bool withGrad in new[] { false, true })
            {
                var lossD = new double[n];
                var gradD = new double[x.Length];
                Functional.CrossEntropy<double, long>(xd, [n, classes], t, [n], lossD, Reduction.None, gradInput: withGrad ? gradD : default);
                (double[] loss, double[] grad) = ClassRowsIn(type, x, n, classes, t, withGrad);

                double tol = type switch { "half" => 2e-3, "bfloat16" => 1.6e-2, _ => 2e-5 };
                for (int i = 0; i < n; i++) AssertClose(lossD[i], loss[i], tol, $"{type} grad={withGrad} loss[{i}]");
                for (int i = 0; i < grad.Length; i++) AssertClose(gradD[i], grad[i], tol, $"{type} grad[{i}]");
            }
        }
    }

    /// <summary>Random shapes (rows and K-dim, 1–299 classes), logit spreads from ±1 to ±120, a few specials (±∞, NaN,
    /// ±65504, ±10^30), ignored positions, smoothing and every reduction, in float32, float16 and bfloat16 with the
    /// gradient, against float64 on the same values (the float64 loss rounded to the type, so that a float16 sum past
    /// 65504 is +∞ as it should be). This run found exp(10^30) coming out −∞.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void RandomShapesAndSpecialsMatchFloat64(int seed)
    {
        var rnd = new Random(seed);
        for (int iteration = 0; iteration < 60; iteration++)
        {
            (float[] x, int n, int c, int d, double spread) = RandomLogits(rnd, 300, 200);
            int total = x.Length;
            var t = new long[n * d];
            for (int i = 0; i < t.Length; i++) t[i] = rnd.Next(10) == 0 ? -100 : rnd.Next(c);
            nint[] shape = d > 1 ? [n, c, d] : [n, c];
            nint[] tshape = d > 1 ? [n, d] : [n];
            double eps = rnd.Next(3) == 0 ? 0.1 : 0;
            var reduction = (Reduction)rnd.Next(3);
            int lossLength = reduction == Reduction.None ? n * d : 1;
            foreach (string type in new[] { "float", "half", "bfloat16" })
            {
                double[] xd = type switch
                {
                    "half" => [.. x.Select(v => (double)(Half)v)],
                    "bfloat16" => [.. x.Select(v => (double)(float)(BFloat16)v)],
                    _ => [.. x.Select(v => (double)v)],
                };
                var lossD = new double[lossLength];
                var gradD = new double[total];
                Functional.CrossEntropy<double, long>(xd, shape, t, tshape, lossD, reduction, default, -100, eps, gradD);
                double[] loss, grad;
                if (type == "half")
                {
                    var l = new Half[lossLength];
                    var g = new Half[total];
                    Functional.CrossEntropy<Half, long>([.. x.Select(v => (Half)v)], shape, t, tshape, l, reduction, default, -100, eps, g);
                    (loss, grad) = ([.. l.Select(v => (double)v)], [.. g.Select(v => (double)v)]);
                }
                else if (type == "bfloat16")
                {
                    var l = new BFloat16[lossLength];
                    var g = new BFloat16[total];
                    Functional.CrossEntropy<BFloat16, long>([.. x.Select(v => (BFloat16)v)], shape, t, tshape, l, reduction, default, -100, eps, g);
                    (loss, grad) = ([.. l.Select(v => (double)(float)v)], [.. g.Select(v => (double)(float)v)]);
                }
                else
                {
                    var l = new float[lossLength];
                    var g = new float[total];
                    Functional.CrossEntropy<float, long>(x, shape, t, tshape, l, reduction, default, -100, eps, g);
                    (loss, grad) = ([.. l.Select(v => (double)v)], [.. g.Select(v => (double)v)]);
                }

                double tol = type switch { "half" => 4e-3, "bfloat16" => 3e-2, _ => 1e-4 };
                string what = $"seed {seed} #{iteration} {type} ({n},{c},{d}) spread {spread} eps {eps} {reduction}";
                for (int i = 0; i < lossLength; i++)
                {
                    double expected = type switch
                    {
                        "half" => (double)(Half)lossD[i],
                        "bfloat16" => (float)(BFloat16)(float)lossD[i],
                        _ => (float)lossD[i],
                    };
                    if (double.IsInfinity(expected)) Assert.True(expected == loss[i], $"{what} loss[{i}]: expected {expected}, got {loss[i]}");
                    else AssertClose(expected, loss[i], tol, $"{what} loss[{i}]");
                }

                for (int i = 0; i < total; i++)
                {
                    if (double.IsInfinity(gradD[i])) Assert.True(gradD[i] == grad[i], $"{what} grad[{i}]: expected {gradD[i]}, got {grad[i]}");
                    else AssertClose(gradD[i], grad[i], tol, $"{what} grad[{i}]");
                }
            }
        }
    }

    /// <summary>The loss alone sums its exps and keeps none, so it takes the exp for sums (FloatRows.ExpForSum, up to
    /// 1.7 ulp plus 0.05 ulp per unit of |x|): each float32 loss of rows and K-dim positions, spread over ±1 to ±40,
    /// with targets on small and on far logits, stays within 2 ulp of float64's (plus 2^−24 absolute for losses near
    /// 0, where the sum's rounding at 1 decides).</summary>
    [Theory]
    [InlineData(1000, 1)]
    [InlineData(32000, 1)]
    [InlineData(100003, 1)]
    [InlineData(21, 4096)]
    [InlineData(150, 300)]
    public void LossAloneStaysWithinTwoUlpOfFloat64(int c, int d)
    {
        var rnd = new Random(c + d);
        int n = d > 1 ? 2 : 24;
        double worst = 0;
        string worstAt = "";
        foreach (double spread in new[] { 1.0, 8, 40 })
        {
            var x = new float[n * c * d];
            for (int i = 0; i < x.Length; i++) x[i] = (float)((rnd.NextDouble() * 2 - 1) * spread);
            var t = new long[n * d];
            for (int i = 0; i < t.Length; i++) t[i] = rnd.Next(c);
            if (d == 1)
            {
                // Some targets on the row's largest logit, some 3 units above it (a small loss, and a loss near 0).
                for (int r = 0; r < n; r += 3)
                {
                    int arg = 0;
                    for (int k = 1; k < c; k++) if (x[r * c + k] > x[r * c + arg]) arg = k;
                    t[r] = arg;
                    if (r % 2 == 0) x[r * c + arg] += 3 * (float)spread;
                }
            }

            nint[] shape = d > 1 ? [n, c, d] : [n, c];
            nint[] tshape = d > 1 ? [n, d] : [n];
            var lossF = new float[n * d];
            var lossD = new double[n * d];
            Functional.CrossEntropy<float, long>(x, shape, t, tshape, lossF, Reduction.None);
            Functional.CrossEntropy<double, long>([.. x.Select(v => (double)v)], shape, t, tshape, lossD, Reduction.None);
            for (int i = 0; i < lossF.Length; i++)
            {
                double ulp = Math.ScaleB(1, Math.ILogB((float)lossD[i]) - 23);
                double error = Math.Max(0, Math.Abs(lossF[i] - lossD[i]) - Math.ScaleB(1, -22)) / ulp;
                if (error > worst)
                {
                    worst = error;
                    worstAt = $"spread {spread} loss[{i}] = {lossF[i]:R}, float64 {lossD[i]:R}";
                }
            }
        }

        Assert.True(worst <= 2, $"({c}, {d}): {worst:F2} ulp at {worstAt}");
    }

    /// <summary>The random run of <see cref="RandomShapesAndSpecialsMatchFloat64"/> over the other entry points: class
    /// targets as int32 with weights and an upstream gradient, probability targets, and log-softmax, in float32, float16
    /// and bfloat16 against float64 on the same values. This run found log-softmax losing log s beside a logit of
    /// 65504.</summary>
    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomWeightsProbabilitiesAndLogSoftmaxMatchFloat64(int seed)
    {
        var rnd = new Random(seed);
        for (int iteration = 0; iteration < 40; iteration++)
        {
            (float[] x, int n, int c, int d, double spread) = RandomLogits(rnd, 200, 120);
            int caseSeed = rnd.Next();
            string what = $"seed {seed} #{iteration} ({n},{c},{d}) spread {spread}";
            RandomEntryPoints<float>(x, n, c, d, new Random(caseSeed), what);
            RandomEntryPoints<Half>(x, n, c, d, new Random(caseSeed), what);
            RandomEntryPoints<BFloat16>(x, n, c, d, new Random(caseSeed), what);
        }
    }

    /// <summary>A case of the random runs: 1–3 samples of rows or of up to <paramref name="maxPositions"/> positions, up
    /// to <paramref name="maxClasses"/> classes, logits spread ±1 to ±120 with up to two specials among them (±∞, NaN,
    /// ±65504, ±10^30).</summary>
    private static (float[] X, int N, int C, int D, double Spread) RandomLogits(Random rnd, int maxClasses, int maxPositions)
    {
        float[] specials = [float.NegativeInfinity, float.PositiveInfinity, float.NaN, 65504f, -65504f, 1e30f, -1e30f];
        int n = rnd.Next(1, 4), c = rnd.Next(1, maxClasses), d = rnd.Next(0, 3) == 0 ? 1 : rnd.Next(1, maxPositions);
        var x = new float[n * c * d];
        double spread = new[] { 1.0, 10, 60, 120 }[rnd.Next(4)];
        for (int i = 0; i < x.Length; i++) x[i] = (float)((rnd.NextDouble() * 2 - 1) * spread);
        for (int k = rnd.Next(0, 3); k > 0; k--) x[rnd.Next(x.Length)] = specials[rnd.Next(specials.Length)];
        return (x, n, c, d, spread);
    }

    private static void RandomEntryPoints<T>(float[] x, int n, int c, int d, Random rnd, string what)
        where T : unmanaged
    {
        static double Round(double v) =>
            typeof(T) == typeof(Half) ? (double)(Half)v : typeof(T) == typeof(BFloat16) ? (float)(BFloat16)(float)v : (float)v;
        static T[] To(float[] a) =>
            typeof(T) == typeof(Half) ? (T[])(object)a.Select(v => (Half)v).ToArray()
            : typeof(T) == typeof(BFloat16) ? (T[])(object)a.Select(v => (BFloat16)v).ToArray()
            : (T[])(object)a.ToArray();
        static double[] Back(T[] a) => a switch
        {
            Half[] h => [.. h.Select(v => (double)v)],
            BFloat16[] b => [.. b.Select(v => (double)(float)v)],
            float[] f => [.. f.Select(v => (double)v)],
            _ => throw new InvalidOperationException(),
        };
        double tol = typeof(T) == typeof(Half) ? 4e-3 : typeof(T) == typeof(BFloat16) ? 3e-2 : 1e-4;
        void Check(string part, double[] expected, double[] actual, bool round)
        {
            for (int i = 0; i < expected.Length; i++)
            {
                double e = round ? Round(expected[i]) : expected[i];
                if (double.IsInfinity(e)) Assert.True(e == actual[i], $"{what} {typeof(T).Name} {part}[{i}]: expected {e}, got {actual[i]}");
                else AssertClose(e, actual[i], tol, $"{what} {typeof(T).Name} {part}[{i}]");
            }
        }

        int total = x.Length, positions = n * d;
        nint[] shape = d > 1 ? [n, c, d] : [n, c];
        nint[] tshape = d > 1 ? [n, d] : [n];
        double[] xd = [.. x.Select(v => Round(v))];
        T[] xt = To(x);
        float[]? w = rnd.Next(2) == 0 ? [.. Enumerable.Range(0, c).Select(_ => (float)(0.2 + rnd.NextDouble() * 1.8))] : null;
        double[]? wd = w is null ? null : [.. w.Select(v => Round(v))];
        double eps = rnd.Next(3) == 0 ? 0.2 : 0;
        var reduction = (Reduction)rnd.Next(3);
        int lossLength = reduction == Reduction.None ? positions : 1;
        float[]? up = reduction == Reduction.None && rnd.Next(2) == 0 ? [.. Enumerable.Range(0, positions).Select(_ => (float)(rnd.NextDouble() * 2 - 1))] : null;
        double[]? upd = up is null ? null : [.. up.Select(v => Round(v))];
        var t = new int[positions];
        for (int i = 0; i < positions; i++) t[i] = rnd.Next(8) == 0 ? -100 : rnd.Next(c);

        var lossD = new double[lossLength];
        var gradD = new double[total];
        Functional.CrossEntropy<double, int>(xd, shape, t, tshape, lossD, reduction, wd, -100, eps, gradD, upd);
        var loss = new T[lossLength];
        var grad = new T[total];
        Functional.CrossEntropy<T, int>(xt, shape, t, tshape, loss, reduction, w is null ? default : To(w), -100, eps, grad, up is null ? default : To(up));
        Check($"class w={w is not null} eps={eps} {reduction} upstream={up is not null} loss", lossD, Back(loss), round: true);
        Check($"class w={w is not null} eps={eps} {reduction} upstream={up is not null} grad", gradD, Back(grad), round: false);

        var p = new float[total];
        for (int i = 0; i < total; i++) p[i] = (float)rnd.NextDouble();
        Functional.CrossEntropy<double>(xd, shape, [.. p.Select(v => Round(v))], lossD, reduction, wd, eps, gradD, upd);
        Functional.CrossEntropy<T>(xt, shape, To(p), loss, reduction, w is null ? default : To(w), eps, grad, up is null ? default : To(up));
        Check($"probabilities w={w is not null} eps={eps} {reduction} loss", lossD, Back(loss), round: true);
        Check($"probabilities w={w is not null} eps={eps} {reduction} grad", gradD, Back(grad), round: false);

        var logpD = new double[total];
        var logp = new T[total];
        Functional.LogSoftmax<double>(xd, shape, 1, logpD);
        Functional.LogSoftmax<T>(xt, shape, 1, logp);
        Check("log-softmax", logpD, Back(logp), round: true);
    }

    /// <summary>Log-softmax of rows whose largest logits are large (65504, 10^30, twice each, so that their own
    /// log-probability is −ln 2 and others are far below): x − (m + log s) would lose log s in m's last bits.</summary>
    [Theory]
    [InlineData(65504f)]
    [InlineData(1e30f)]
    [InlineData(-3e4f)]
    public void LogSoftmaxOfLargeLogitsKeepsLogS(float big)
    {
        foreach (int c in new[] { 2, 17, 96, 5000 })
        {
            var rnd = new Random(c);
            var x = new float[2 * c];
            for (int i = 0; i < x.Length; i++) x[i] = big - (float)(rnd.NextDouble() * 20);
            x[0] = big;
            x[c - 1] = big;
            x[c] = big;
            x[c + c / 2] = big;
            var got = new float[x.Length];
            var expected = new double[x.Length];
            Functional.LogSoftmax<float>(x, [2, c], 1, got);
            Functional.LogSoftmax<double>([.. x.Select(v => (double)v)], [2, c], 1, expected);
            for (int i = 0; i < x.Length; i++) AssertClose(expected[i], got[i], 2e-6, $"{big:G3} c={c} logp[{i}]");
        }
    }

    /// <summary>Huge finite logits (10^10 to 3·10^38, either sign) as the first logit, beside it and at the target, in
    /// rows and K-dim tiles of float32 and bfloat16, forward only and with the gradient, against float64 on the same
    /// values: the one-read passes must see the overflow (an exp that came out −∞ or 0 for them once hid it).</summary>
    [Theory]
    [InlineData(1e10f)]
    [InlineData(1e30f)]
    [InlineData(3e38f)]
    [InlineData(-1e30f)]
    public void HugeFiniteLogitsMatchFloat64(float huge)
    {
        foreach ((int n, int c, int d) in new[] { (4, 154, 1), (2, 21, 96) })
        {
            var rnd = new Random(c + d);
            var x = new float[n * c * d];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rnd.NextDouble() * 2 - 1);
            var t = new long[n * d];
            for (int i = 0; i < t.Length; i++) t[i] = rnd.Next(c);
            // (sample, class, position, target): the first logit; class 1 beside a class-0 target; the target itself.
            (int, int, int, int)[] places = d == 1 ? [(0, 0, 0, 3), (1, 1, 0, 0), (2, 2, 0, 2)] : [(0, 0, 0, 3), (0, 1, 5, 0), (1, 2, 7, 2)];
            foreach ((int sample, int cls, int pos, int target) in places)
            {
                x[(sample * c + cls) * d + pos] = huge;
                t[sample * d + pos] = target;
            }

            nint[] shape = d == 1 ? [n, c] : [n, c, d];
            nint[] tshape = d == 1 ? [n] : [n, d];
            foreach (bool bf16 in new[] { false, true })
            {
                float[] xr = bf16 ? [.. x.Select(v => (float)(BFloat16)v)] : x;
                foreach (bool withGrad in new[] { false, true })
                {
                    var lossD = new double[n * d];
                    var gradD = new double[x.Length];
                    Functional.CrossEntropy<double, long>([.. xr.Select(v => (double)v)], shape, t, tshape, lossD, Reduction.None, gradInput: withGrad ? gradD : default);
                    double[] loss, grad;
                    if (bf16)
                    {
                        var l = new BFloat16[n * d];
                        var g = new BFloat16[withGrad ? x.Length : 0];
                        Functional.CrossEntropy<BFloat16, long>([.. xr.Select(v => (BFloat16)v)], shape, t, tshape, l, Reduction.None, gradInput: withGrad ? g : default);
                        (loss, grad) = ([.. l.Select(v => (double)(float)v)], [.. g.Select(v => (double)(float)v)]);
                    }
                    else
                    {
                        var l = new float[n * d];
                        var g = new float[withGrad ? x.Length : 0];
                        Functional.CrossEntropy<float, long>(xr, shape, t, tshape, l, Reduction.None, gradInput: withGrad ? g : default);
                        (loss, grad) = ([.. l.Select(v => (double)v)], [.. g.Select(v => (double)v)]);
                    }

                    double tol = bf16 ? 1.6e-2 : 2e-5;
                    string what = $"{huge:G3} ({n},{c},{d}) bf16={bf16} grad={withGrad}";
                    for (int i = 0; i < loss.Length; i++)
                    {
                        double expected = bf16 ? (float)(BFloat16)(float)lossD[i] : (float)lossD[i];
                        AssertClose(expected, loss[i], tol, $"{what} loss[{i}]");
                    }

                    for (int i = 0; i < grad.Length; i++) AssertClose(gradD[i], grad[i], tol, $"{what} grad[{i}]");
                }
            }
        }
    }

    /// <summary>Small losses and large gradients keep float32's digits when class 0 lies far below the max: the exps are
    /// taken against the max (or, for the loss alone, the target's logit), as PyTorch takes them. Against class 0 the
    /// first case's loss came out 1.8e-3 off relative and the second's gradient 3.6e-6 (libtorch: 3e-5 and 2e-10).
    /// Rows (three, each 40 above the one before), tiles of positions (the same logits at 96 positions, moved up by 40
    /// every 32) and probability targets, with and without the gradient.</summary>
    [Theory]
    [InlineData(new float[] { 20f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 69f, 61.8f }, 14)]
    [InlineData(new float[] { -16f, 49.95766830444336f, 49.866825103759766f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 2)]
    [InlineData(new float[] { -30f, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 10f, 11f, 12f, 13f, 14f, 15f, 16f, 40f, 47f }, 18)]
    [InlineData(new float[] { -30f, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f, 10f, 11f, 12f, 13f, 14f, 15f, 16f, 40f, 47f }, 18, 181)]
    [InlineData(new float[] { 20f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 69f, 61.8f }, 14, 184, true)]
    public void ClassZeroFarBelowTheMaxKeepsFloatAccuracy(float[] given, int target, int zeros = 0, bool zerosFirst = false)
    {
        // 200 classes: the 64-element steps too, with the max in their tail when the zeros come first.
        float[] logits = zerosFirst ? [.. new float[zeros], .. given] : [.. given, .. new float[zeros]];
        target += zerosFirst ? zeros : 0;
        int c = logits.Length;
        foreach ((int rows, int positions) in new[] { (3, 1), (1, 96) })
        {
            nint[] shape = positions == 1 ? [rows, c] : [rows, c, positions];
            nint[] tshape = positions == 1 ? [rows] : [rows, positions];
            var x = new float[rows * c * positions];
            // Each row, and each run of 32 positions, 40 above the one before it, so that a reference taken from the wrong
            // row or positions shows.
            for (int row = 0; row < rows; row++)
            {
                for (int k = 0; k < c; k++)
                {
                    for (int p = 0; p < positions; p++) x[(row * c + k) * positions + p] = logits[k] + 40 * (row + p / 32);
                }
            }

            long[] t = [.. Enumerable.Repeat((long)target, rows * positions)];
            var probs = new float[x.Length];
            for (int row = 0; row < rows; row++)
            {
                for (int p = 0; p < positions; p++) probs[(row * c + target) * positions + p] = 1f;
            }

            foreach (bool withGrad in new[] { false, true })
            {
                var lossD = new double[rows * positions];
                var gradD = new double[x.Length];
                var loss = new float[rows * positions];
                var grad = new float[withGrad ? x.Length : 0];
                Functional.CrossEntropy<double, long>([.. x.Select(v => (double)v)], shape, t, tshape, lossD, Reduction.None, gradInput: withGrad ? gradD : default);
                Functional.CrossEntropy<float, long>(x, shape, t, tshape, loss, Reduction.None, gradInput: withGrad ? grad : default);
                Check("class", loss, grad);
                Functional.CrossEntropy<double>([.. x.Select(v => (double)v)], shape, [.. probs.Select(v => (double)v)], lossD, Reduction.None, gradInput: withGrad ? gradD : default);
                Functional.CrossEntropy<float>(x, shape, probs, loss, Reduction.None, gradInput: withGrad ? grad : default);
                Check("probabilities", loss, grad);

                void Check(string kind, float[] l, float[] g)
                {
                    string what = $"{kind} C={c} rows={rows} positions={positions} grad={withGrad}";
                    // Four float epsilons of the loss, or of 1 below it (log s of an s near 1 has an absolute error, in
                    // libtorch too); four of each gradient, of 1 more at the target (p_t − 1 cancels), beside 1e-9 of the
                    // largest (tiny terms far below the max have x − max rounded, in libtorch too).
                    for (int i = 0; i < l.Length; i++)
                    {
                        Assert.True(Math.Abs(l[i] - lossD[i]) <= 4.8e-7 * Math.Max(1, Math.Abs(lossD[i])),
                            $"{what} loss[{i}]: expected {lossD[i]:R}, got {l[i]:R}");
                    }

                    double largest = g.Length == 0 ? 0 : gradD.Max(Math.Abs);
                    for (int i = 0; i < g.Length; i++)
                    {
                        Assert.True(Math.Abs(g[i] - gradD[i]) <= 4.8e-7 * (Math.Abs(gradD[i]) + (i / positions % c == target ? 1 : 0)) + 1e-9 * largest,
                            $"{what} grad[{i}]: expected {gradD[i]:R}, got {g[i]:R}");
                    }
                }
            }
        }
    }

    /// <summary>Smoothed rows of 5000 classes keep float's digits: the weights' sum W (it scales every gradient of a
    /// smoothed row) and the target sums Σ u·(x − m) (terms of both signs, of the loss's size) are added in double, in
    /// blocks for the latter. Summed in float, a gradient came out 2.4e-6 off (20 ulps; libtorch 2e-8) and, without
    /// AVX-512, a loss 4.4e-6 off.</summary>
    [Fact]
    public void LongSmoothedRowsKeepFloatAccuracy()
    {
        const int n = 7, c = 5000;
        var rnd = new Random(31);
        // Normal logits: far from the max on average, so that Σ u·(x − m) is large.
        float[] x = [.. Enumerable.Range(0, n * c).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - rnd.NextDouble())) * Math.Cos(2 * Math.PI * rnd.NextDouble())))];
        float[] w = [.. Enumerable.Range(0, c).Select(_ => (float)(rnd.NextDouble() * 2))];
        long[] t = [3082, 1989, 4380, 7, 4999, 0, 2500];
        float[] probs = new float[n * c];
        for (int row = 0; row < n; row++)
        {
            double total = 0;
            for (int k = 0; k < c; k++) total += probs[row * c + k] = (float)rnd.NextDouble();
            for (int k = 0; k < c; k++) probs[row * c + k] = (float)(probs[row * c + k] / total);
        }

        double[] xd = [.. x.Select(v => (double)v)], wd = [.. w.Select(v => (double)v)], pd = [.. probs.Select(v => (double)v)];
        foreach (bool probabilities in new[] { false, true })
        {
            var lossD = new double[1];
            var gradD = new double[x.Length];
            var loss = new float[1];
            var grad = new float[x.Length];
            if (probabilities)
            {
                // Unweighted: u = 1/C in every term, whose roundings in a float sum all lean the same way.
                Functional.CrossEntropy<double>(xd, [n, c], pd, lossD, Reduction.Mean, default, 1.0, gradD);
                Functional.CrossEntropy<float>(x, [n, c], probs, loss, Reduction.Mean, default, 1.0, grad);
            }
            else
            {
                Functional.CrossEntropy<double, long>(xd, [n, c], t, [n], lossD, Reduction.Mean, wd, labelSmoothing: 1.0, gradInput: gradD);
                Functional.CrossEntropy<float, long>(x, [n, c], t, [n], loss, Reduction.Mean, w, labelSmoothing: 1.0, gradInput: grad);
            }

            string what = probabilities ? "probabilities" : "class targets";
            Assert.True(Math.Abs(loss[0] - lossD[0]) <= 4.8e-7 * Math.Abs(lossD[0]), $"{what} loss: expected {lossD[0]:R}, got {loss[0]:R}");
            double largest = gradD.Max(Math.Abs);
            for (int i = 0; i < grad.Length; i++)
            {
                Assert.True(Math.Abs(grad[i] - gradD[i]) <= 4.8e-7 * Math.Abs(gradD[i]) + 1e-7 * largest,
                    $"{what} grad[{i}]: expected {gradD[i]:R}, got {grad[i]:R}");
            }
        }
    }

    /// <summary>Rows whose 64-element steps hold a −∞ or −1e9 mask, or a logit at the unclamped exp's limit (2^17), take
    /// the clamped exp for those steps and the unclamped one elsewhere; row 1's first logit (its max, where it is large)
    /// sits on either side of the limit too.</summary>
    [Theory]
    [InlineData(float.NegativeInfinity, 0f)]
    [InlineData(-1e9f, 0f)]
    [InlineData(131072f, 0f)]
    [InlineData(-131072f, 0f)]
    [InlineData(131000f, 0f)]
    [InlineData(float.NegativeInfinity, 131071f)]
    [InlineData(-1e9f, 131072f)]
    [InlineData(5f, -140000f)]
    [InlineData(5f, -1e10f)]
    [InlineData(1e10f, 0f)]
    public void MaskedAndLargeLogitStepsMatchFloat64(float special, float first)
    {
        foreach (int c in new[] { 64, 200, 5000 })
        {
            const int n = 3;
            var rnd = new Random(c);
            var x = new float[n * c];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rnd.NextDouble() * 8 - 4);
            var t = new long[n];
            for (int row = 0; row < n; row++)
            {
                t[row] = (row * 37 + 11) % c;
                x[row * c] = row == 1 ? first : x[row * c];
                for (int k = 3 + row; k < c; k += 7 * (row + 1))
                {
                    if (k != t[row]) x[row * c + k] = special;
                }
            }

            foreach (bool bf16 in new[] { false, true })
            {
                float[] xr = bf16 ? [.. x.Select(v => (float)(BFloat16)v)] : x;
                foreach (bool withGrad in new[] { false, true })
                {
                    var lossD = new double[n];
                    var gradD = new double[x.Length];
                    Functional.CrossEntropy<double, long>([.. xr.Select(v => (double)v)], [n, c], t, [n], lossD, Reduction.None, gradInput: withGrad ? gradD : default);
                    (double[] loss, double[] grad) = ClassRowsIn(bf16 ? "bfloat16" : "float", xr, n, c, t, withGrad);

                    string what = $"special {special:G3}, first {first:G6}, C={c} bf16={bf16} grad={withGrad}";
                    for (int i = 0; i < n; i++)
                    {
                        double expected = bf16 ? (float)(BFloat16)(float)lossD[i] : (float)lossD[i];
                        Assert.False(double.IsNaN(loss[i]), $"{what} loss[{i}] is NaN");
                        AssertClose(expected, loss[i], bf16 ? 1.6e-2 : 2e-5, $"{what} loss[{i}]");
                    }

                    for (int i = 0; i < grad.Length; i++) AssertClose(gradD[i], grad[i], bf16 ? 1.6e-2 : 2e-5, $"{what} grad[{i}]");
                }
            }
        }
    }

    [Theory]
    [InlineData(50_000)]   // exps kept in the scratch row
    [InlineData(70_001)]   // longer than the scratch row: exps recomputed
    public void LargeVocabularyRowsMatchFloat64(int classes)
    {
        (float[] x, long[] t) = Data(7, 4L * classes, 4, classes, ignoreRate: 0);
        Compare(x, [4, classes], t, [4], Reduction.Mean, 0, weights: false);
        Compare(x, [4, classes], t, [4], Reduction.Sum, 0.1, weights: true);
    }

    [Fact]
    public void NonTemporalGradientMatchesFloat64()
    {
        // 100 × 32000 floats = 12.8 MB: above the non-temporal threshold.
        (float[] x, long[] t) = Data(11, 100L * 32000, 100, 32000);
        Compare(x, [100, 32000], t, [100], Reduction.Mean, 0.1, weights: false);
    }

    /// <summary>Float rows of 4 KB or more in a gradient over 12 MB are streamed past the cache from each row's first
    /// line on (AVX-512 and AVX2): at any output alignment every element must get the same bits,
    /// agree with float64, and nothing outside the gradient may be written.</summary>
    [Fact]
    public void StreamedFloatRowsAreTheSameAtEveryAlignment()
    {
        const int n = 100, c = 32000;   // 12.8 MB of float gradient, exps kept in the scratch row
        (float[] x, long[] t) = Data(13, (long)n * c, n, c);
        float[] w = [.. Enumerable.Range(0, c).Select(i => 0.5f + (i % 5) * 0.25f)];
        (float[] loss, float[] grad) = SameBitsAtEveryOffset(x.Length, n, (loss, grad) =>
            Functional.CrossEntropy<float, long>(x, [n, c], t, [n], loss, Reduction.None, w, labelSmoothing: 0.1, gradInput: grad));
        var lossD = new double[n];
        var gradD = new double[x.Length];
        Functional.CrossEntropy<double, long>([.. x.Select(v => (double)v)], [n, c], t, [n], lossD, Reduction.None,
            [.. w.Select(v => (double)v)], labelSmoothing: 0.1, gradInput: gradD);
        for (int i = 0; i < n; i++) AssertClose(lossD[i], loss[i], 2e-5, $"loss[{i}]");
        for (int i = 0; i < x.Length; i++) AssertClose(gradD[i], grad[i], 2e-5, $"grad[{i}]");
    }

    [Theory]
    [InlineData(2, 5, 37)]      // two 16-position groups and a tail of 5
    [InlineData(3, 21, 64)]
    [InlineData(1, 1, 16)]
    [InlineData(2, 40, 1000)]   // several tiles per batch
    [InlineData(1, 3, 30000)]   // three wide tiles and a tail: the prefetch and the copy at tile edges
    public void KDimMatchesFloat64(int n, int c, int d)
    {
        (float[] x, long[] t) = Data(n * 1000 + c * 10 + d, (long)n * c * d, (long)n * d, c);
        Compare(x, [n, c, d], t, [n, d], Reduction.None, 0, weights: false);
        Compare(x, [n, c, 1, d], t, [n, 1, d], Reduction.Mean, 0.3, weights: true);
        Compare(x, [n, c, d], t, [n, d], Reduction.Sum, 0, weights: true);
    }

    /// <summary>K-dim probability targets go through the tile kernel (every machine with SIMD), its sums in blocks of 16
    /// classes: against float64 on the same values, with weights and smoothing, at 21 classes (five groups of 16
    /// positions: the 512-bit lanes pair the last with itself), 3 classes over three tiles, and 700 and 1500 classes
    /// (summed over all classes in float, the losses came out 8e-7 to 1.1e-6 off). A NaN target or logit sends its group
    /// to the general path: NaN there, as in float64.</summary>
    [Theory]
    [InlineData(2, 21, 80)]
    [InlineData(1, 3, 30000)]
    [InlineData(1, 700, 48)]
    [InlineData(2, 1500, 40)]
    public void KDimProbabilityTargetsMatchFloat64(int n, int c, int d)
    {
        var rnd = new Random(n * 7 + c + d);
        float[] x = [.. Enumerable.Range(0, n * c * d).Select(_ => (float)(rnd.NextDouble() * 12 - 6))];
        float[] p = [.. Enumerable.Range(0, n * c * d).Select(_ => (float)rnd.NextDouble() / c * 2)];
        p[1 * d + 5] = float.NaN;    // position 5 of sample 0
        x[0 * d + 37] = float.NaN;   // position 37 of sample 0
        float[] up = [.. Enumerable.Range(0, n * d).Select(_ => (float)(rnd.NextDouble() * 2 - 1))];
        foreach ((double eps, bool weighted, Reduction reduction) in new[] { (0.0, false, Reduction.None), (0.1, true, Reduction.None), (0.1, false, Reduction.Mean), (0.0, true, Reduction.Sum) })
        {
            float[]? w = weighted ? [.. Enumerable.Range(0, c).Select(i => 0.25f + (i % 7) * 0.3f)] : null;
            int lossLength = reduction == Reduction.None ? n * d : 1;
            float[]? upstream = reduction == Reduction.None ? up : null;
            var lossD = new double[lossLength];
            var gradD = new double[x.Length];
            var loss = new float[lossLength];
            var grad = new float[x.Length];
            Functional.CrossEntropy<double>([.. x.Select(v => (double)v)], [n, c, d], [.. p.Select(v => (double)v)], lossD, reduction,
                w is null ? default : w.Select(v => (double)v).ToArray(), eps, gradD, upstream is null ? default : upstream.Select(v => (double)v).ToArray());
            Functional.CrossEntropy<float>(x, [n, c, d], p, loss, reduction, w, eps, grad, upstream);
            string what = $"({n},{c},{d}) eps {eps} w {weighted} {reduction}";
            for (int i = 0; i < loss.Length; i++) AssertClose(lossD[i], loss[i], 6e-7, $"{what} loss[{i}]");
            double largest = gradD.Where(double.IsFinite).Max(Math.Abs);
            for (int i = 0; i < grad.Length; i++)
            {
                if (double.IsNaN(gradD[i])) Assert.True(float.IsNaN(grad[i]), $"{what} grad[{i}]: expected NaN, got {grad[i]}");
                else Assert.True(Math.Abs(grad[i] - gradD[i]) <= 1e-4 * (Math.Abs(gradD[i]) + 1e-3 * largest), $"{what} grad[{i}]: expected {gradD[i]:R}, got {grad[i]:R}");
            }

            // float16 and bfloat16: the float32 kernel on the same values, rounded once.
            float[] xh = [.. x.Select(v => (float)(Half)v)], ph = [.. p.Select(v => (float)(Half)v)];
            var lossF = new float[lossLength];
            var gradF = new float[x.Length];
            float[]? uph = upstream is null ? null : [.. upstream.Select(v => (float)(Half)v)];
            float[]? wh = w is null ? null : [.. w.Select(v => (float)(Half)v)];
            Functional.CrossEntropy<float>(xh, [n, c, d], ph, lossF, reduction, wh, eps, gradF, uph);
            var lossH = new Half[lossLength];
            var gradH = new Half[x.Length];
            Functional.CrossEntropy<Half>([.. xh.Select(v => (Half)v)], [n, c, d], [.. ph.Select(v => (Half)v)], lossH, reduction,
                wh is null ? default : wh.Select(v => (Half)v).ToArray(), eps, gradH, uph is null ? default : uph.Select(v => (Half)v).ToArray());
            for (int i = 0; i < loss.Length; i++) Assert.True(((Half)lossF[i]).Equals(lossH[i]), $"{what} half loss[{i}]: {lossH[i]} against {(Half)lossF[i]}");
            for (int i = 0; i < grad.Length; i++) Assert.True(((Half)gradF[i]).Equals(gradH[i]), $"{what} half grad[{i}]: {gradH[i]} against {(Half)gradF[i]}");
        }
    }

    /// <summary>K-dim log-softmax goes through the tile kernel: against float64 on the same values (every position's
    /// 21, 3, 700 or 1500 classes), with groups holding a NaN, a +∞, a position of all −∞ (NaN there) and one of a
    /// −∞ beside finite logits (−∞ there) left to the general path, and large logits (65504) whose log s must not be
    /// lost; float16 is the float32 kernel's result rounded once.</summary>
    [Theory]
    [InlineData(2, 21, 80)]
    [InlineData(1, 3, 30000)]
    [InlineData(1, 700, 48)]
    [InlineData(2, 1500, 40)]
    public void KDimLogSoftmaxMatchesFloat64(int n, int c, int d)
    {
        var rnd = new Random(n * 11 + c + d);
        float[] x = [.. Enumerable.Range(0, n * c * d).Select(_ => (float)(rnd.NextDouble() * 40 - 20))];
        // Positions 5, 21, 33, 36 and 39 of sample 0 (every d here is at least 40).
        x[1 * d + 5] = float.NaN;
        x[0 * d + 21] = float.PositiveInfinity;
        for (int k = 0; k < c; k++) x[k * d + 33] = float.NegativeInfinity;
        x[(c - 1) * d + 36] = float.NegativeInfinity;
        x[0 * d + 39] = 65504f;
        x[(c - 1) * d + 39] = 65504f;
        var expected = new double[x.Length];
        var got = new float[x.Length];
        Functional.LogSoftmax<double>([.. x.Select(v => (double)v)], [n, c, d], 1, expected);
        Functional.LogSoftmax<float>(x, [n, c, d], 1, got);
        for (int i = 0; i < x.Length; i++)
        {
            if (double.IsNaN(expected[i]) || double.IsInfinity(expected[i])) Assert.True(expected[i].Equals((double)got[i]), $"({n},{c},{d}) logp[{i}]: expected {expected[i]}, got {got[i]}");
            else AssertClose(expected[i], got[i], 1e-6, $"({n},{c},{d}) logp[{i}]");
        }

        float[] xh = [.. x.Select(v => (float)(Half)v)];
        var gotF = new float[x.Length];
        var gotH = new Half[x.Length];
        Functional.LogSoftmax<float>(xh, [n, c, d], 1, gotF);
        Functional.LogSoftmax<Half>([.. xh.Select(v => (Half)v)], [n, c, d], 1, gotH);
        for (int i = 0; i < x.Length; i++) Assert.True(((Half)gotF[i]).Equals(gotH[i]), $"({n},{c},{d}) half logp[{i}]: {gotH[i]} against {(Half)gotF[i]}");
    }

    [Fact]
    public void KDimNonFiniteLogitsFollowPyTorchAndIgnoredOnesContributeNothing()
    {
        const int n = 1, c = 3, d = 32;
        (float[] x, long[] t) = Data(5, n * c * d, n * d, c, ignoreRate: 0);
        t[2] = -100;
        x[1 * d + 2] = float.NaN;                 // ignored position: contributes nothing
        x[0 * d + 3] = float.PositiveInfinity;    // ignored position too
        t[3] = -100;
        x[2 * d + 20] = float.NaN;                // non-ignored: its loss and gradient are NaN
        x[0 * d + 25] = float.NegativeInfinity;   // −∞ in a non-target logit is fine
        t[25] = 1;
        var loss = new float[d];
        var grad = new float[x.Length];
        Functional.CrossEntropy<float, long>(x, [n, c, d], t, [n, d], loss, Reduction.None, gradInput: grad);
        Assert.Equal(0f, loss[2]);
        Assert.Equal(0f, loss[3]);
        for (int k = 0; k < c; k++)
        {
            Assert.Equal(0f, grad[k * d + 2]);
            Assert.Equal(0f, grad[k * d + 3]);
            Assert.True(float.IsNaN(grad[k * d + 20]));
        }

        Assert.True(float.IsNaN(loss[20]));
        Assert.True(float.IsFinite(loss[25]));
        Assert.Equal(0f, grad[0 * d + 25]);
        Assert.True(float.IsFinite(loss[4]));
    }

    [Fact]
    public void ResultsAreBitIdenticalForAnyThreadCount()
    {
        (float[] x, long[] t) = Data(3, 512L * 2000, 512, 2000);
        (float[] xk, long[] tk) = Data(4, 4L * 21 * 64 * 64, 4L * 64 * 64, 21);
        float[] Run(int threads, bool kdim) => Threads.Run(threads, () =>
        {
            var loss = new float[1];
            var grad = new float[kdim ? xk.Length : x.Length];
            if (kdim) Functional.CrossEntropy<float, long>(xk, [4, 21, 64, 64], tk, [4, 64, 64], loss, gradInput: grad, labelSmoothing: 0.1);
            else Functional.CrossEntropy<float, long>(x, [512, 2000], t, [512], loss, gradInput: grad, labelSmoothing: 0.1);
            return (float[])[loss[0], .. grad];
        });

        foreach (bool kdim in new[] { false, true })
        {
            float[] one = Run(1, kdim);
            Assert.Equal(one, Run(2, kdim));
            Assert.Equal(one, Run(7, kdim));
        }
    }

    /// <summary>The pre-pass over the targets (their check and the mean's total weight) runs on all cores in blocks of
    /// 65536 once there are more: with 300000 targets, weights and ignored positions, the loss, the gradient and the
    /// total weight are bit-identical for 1, 2 and 7 threads, and the total weight is the float64 sum.</summary>
    [Fact]
    public void TargetPrePassOverManyBlocksIsTheSameForAnyThreadCount()
    {
        const int c = 3, d = 150_000;
        (float[] x, long[] t) = Data(21, 2L * c * d, 2L * d, c);
        float[] weight = [0.7f, 1.9f, 0.3f];
        double expected = t.Where(v => v >= 0).Sum(v => (double)weight[v]);
        (float Loss, float Total, float[] Grad) Run(int threads) => Threads.Run(threads, () =>
        {
            var loss = new float[1];
            var grad = new float[x.Length];
            Functional.CrossEntropy<float, long>(x, [2, c, d], t, [2, d], loss, weight: weight, gradInput: grad);
            (float _, float total) = Functional.NllLossWithTotalWeight<float, long>(x, [2, c, d], t, weight);
            return (loss[0], total, grad);
        });

        (float loss1, float total1, float[] grad1) = Run(1);
        Assert.Equal((float)expected, total1);
        foreach (int threads in new[] { 2, 7 })
        {
            (float loss, float total, float[] grad) = Run(threads);
            Assert.Equal(loss1, loss);
            Assert.Equal(total1, total);
            Assert.Equal(grad1, grad);
        }
    }

    [Fact]
    public void SpanEntryPointsDoNotAllocateInSteadyState()
    {
        (float[] x, long[] t) = Data(9, 256L * 4096, 256, 4096);
        var grad = new float[x.Length];
        // Warm up every variant first: the first calls allocate the pools' buckets and the worker threads.
        for (int i = 0; i < 40; i++)
        {
            Functional.CrossEntropy(x, 4096, t, grad);
            Functional.CrossEntropy(x, 4096, t, grad, labelSmoothing: 0.1f);
            Functional.NllLoss(x, 4096, t, grad);
        }

        // 60 calls: any per-call allocation (an object is at least 24 bytes) would show as 1440 bytes or more; a one-off
        // lazy initialization inside the runtime (a wait handle, a thread-local pool bucket) is tolerated.
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) Functional.CrossEntropy(x, 4096, t, grad);
        for (int i = 0; i < 20; i++) Functional.CrossEntropy(x, 4096, t, grad, labelSmoothing: 0.1f);
        for (int i = 0; i < 20; i++) Functional.NllLoss(x, 4096, t, grad);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 100, $"{allocated} bytes allocated by 60 calls");
    }

    /// <summary>The K-dim tile kernels (class targets, probability targets, log-softmax, on whichever width the machine
    /// runs) rent their scratch from the pool: no allocation per call once warm (60 calls on one thread).</summary>
    [Fact]
    public void KDimSpanEntryPointsDoNotAllocateInSteadyState()
    {
        const int n = 2, c = 21, d = 4096;
        (float[] x, long[] t) = Data(12, (long)n * c * d, (long)n * d, c);
        float[] p = [.. x.Select(v => MathF.Abs(v) / 100f)];
        var grad = new float[x.Length];
        var loss = new float[1];
        void Calls()
        {
            Functional.CrossEntropy<float, long>(x, [n, c, d], t, [n, d], loss, labelSmoothing: 0.1, gradInput: grad);
            Functional.CrossEntropy<float>(x, [n, c, d], p, loss, Reduction.Mean, default, 0.1, grad);
            Functional.LogSoftmax<float>(x, [n, c, d], 1, grad);
        }

        // One thread, so that all the work is on this thread's count.
        long allocated = Threads.Run(1, () =>
        {
            for (int i = 0; i < 40; i++) Calls();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) Calls();
            return GC.GetAllocatedBytesForCurrentThread() - before;
        });
        Assert.True(allocated < 100, $"{allocated} bytes allocated by 60 calls");
    }

    /// <summary>Probability targets (one read of the row and its targets on AVX-512, exps against the max, which the row
    /// before's pass takes) and log-softmax against float64: every class count 1…130 (every remainder of 16 and 32), rows
    /// past the 16384-term blocks, and in each a row whose logits lie more than 80 above its first and one whose first
    /// lies 100 below the rest (a reference at the first logit, used until the fifth session, loses digits there).</summary>
    [Theory]
    [MemberData(nameof(ClassCounts))]
    [InlineData(40_000)]
    public void ProbabilityTargetsAndLogSoftmaxMatchFloat64(int classes)
    {
        var rnd = new Random(classes);
        int n = 3;
        var x = new float[n * classes];
        var p = new float[n * classes];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(rnd.NextDouble() * 10 - 5);
            p[i] = (float)rnd.NextDouble();
        }

        if (classes > 1)
        {
            x[classes + classes - 1] = x[classes] + 100f;   // row 1: its last logit 100 above its first
            x[2 * classes] -= 100f;                          // row 2: its first logit 100 below the rest
        }

        float[] w = [.. Enumerable.Range(0, classes).Select(i => 0.5f + (i % 3))];
        double[] xd = [.. x.Select(v => (double)v)], pd = [.. p.Select(v => (double)v)], wd = [.. w.Select(v => (double)v)];
        foreach ((Reduction reduction, double eps, bool weighted) in new[] { (Reduction.None, 0.0, false), (Reduction.Mean, 0.25, true), (Reduction.Sum, 0.0, true) })
        {
            int lossLength = reduction == Reduction.None ? n : 1;
            var lossF = new float[lossLength];
            var gradF = new float[x.Length];
            Functional.CrossEntropy<float>(x, [n, classes], p, lossF, reduction, weighted ? w : default, eps, gradF);
            var lossD = new double[lossLength];
            var gradD = new double[x.Length];
            Functional.CrossEntropy<double>(xd, [n, classes], pd, lossD, reduction, weighted ? wd : default, eps, gradD);
            for (int i = 0; i < lossLength; i++) AssertClose(lossD[i], lossF[i], 2e-5, $"loss[{i}]");
            for (int i = 0; i < x.Length; i++) AssertClose(gradD[i], gradF[i], 2e-5, $"grad[{i}]");
        }

        var logpF = new float[x.Length];
        var logpD = new double[x.Length];
        Functional.LogSoftmax<float>(x, [n, classes], 1, logpF);
        Functional.LogSoftmax<double>(xd, [n, classes], 1, logpD);
        for (int i = 0; i < x.Length; i++) AssertClose(logpD[i], logpF[i], 2e-6, $"logp[{i}]");
    }

    /// <summary>A probability-target gradient of 12 MB or more is streamed past the cache from the first 64-byte
    /// boundary on: at any output alignment it must agree with float64, bit for bit across alignments, and write
    /// nothing outside the gradient.</summary>
    [Fact]
    public void StreamedProbabilityGradientIsTheSameAtEveryAlignment()
    {
        const int n = 3, c = 1 << 20;   // 12.6 MB of float gradient
        var rnd = new Random(5);
        var x = new float[n * c];
        var p = new float[n * c];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(rnd.NextDouble() * 8 - 4);
            p[i] = (float)rnd.NextDouble() / c;
        }

        var gradD = new double[x.Length];
        var lossD = new double[1];
        Functional.CrossEntropy<double>([.. x.Select(v => (double)v)], [n, c], [.. p.Select(v => (double)v)], lossD, Reduction.Mean,
            default, 0.1, gradD);
        float[]? first = null;
        foreach (int offset in new[] { 0, 1, 5, 15 })
        {
            var buffer = new float[x.Length + 16];
            var loss = new float[1];
            Functional.CrossEntropy<float>(x, [n, c], p, loss, Reduction.Mean, default, 0.1, buffer.AsSpan(offset, x.Length));
            Assert.True(buffer.AsSpan(0, offset).ToArray().All(v => v == 0f) && buffer.AsSpan(offset + x.Length).ToArray().All(v => v == 0f),
                $"offset {offset}: wrote outside the gradient");
            float[] grad = buffer.AsSpan(offset, x.Length).ToArray();
            AssertClose(lossD[0], loss[0], 2e-5, $"offset {offset}: loss");
            if (first is null)
            {
                first = grad;
                for (int i = 0; i < grad.Length; i++) AssertClose(gradD[i], grad[i], 2e-5, $"grad[{i}]");
            }
            else
            {
                Assert.True(first.AsSpan().SequenceEqual(grad), $"offset {offset}: the gradient differs from offset 0's");
            }
        }
    }

    /// <summary>Probability-target float32 rows take the next row's max during their own exps: a row whose largest logit
    /// (100, the others below 4) lies anywhere, in the 32-element steps, in the rest after them or in the last 16, in a
    /// short row or past a sum block, must match float64 (a max that missed it overflows the exps).</summary>
    [Theory]
    [InlineData(17)]
    [InlineData(40)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(1100)]   // a 1024-element block and 76 more
    public void ProbabilityRowsFindTheNextRowsMaxAnywhere(int c)
    {
        int[] places = c <= 100 ? [.. Enumerable.Range(0, c)] : [0, 31, 32, 500, 1023, 1024, 1055, 1056, 1070, 1083, 1084, 1099];
        int n = places.Length + 1;
        var rnd = new Random(c);
        var x = new float[n * c];
        var p = new float[n * c];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(rnd.NextDouble() * 8 - 4);
            p[i] = (float)rnd.NextDouble() * 2 / c;
        }

        for (int r = 0; r < places.Length; r++)
        {
            x[(r + 1) * c + places[r]] = 100f;   // row 0 takes row 1's max, and so on
        }

        var lossD = new double[n];
        var gradD = new double[x.Length];
        Functional.CrossEntropy<double>([.. x.Select(v => (double)v)], [n, c], [.. p.Select(v => (double)v)], lossD, Reduction.None,
            default, 0.1, gradD);
        var loss = new float[n];
        var grad = new float[x.Length];
        Functional.CrossEntropy<float>(x, [n, c], p, loss, Reduction.None, default, 0.1, grad);
        for (int r = 0; r < n; r++) AssertClose(lossD[r], loss[r], 2e-5, $"loss[{r}] (largest at {(r == 0 ? -1 : places[r - 1])})");
        for (int i = 0; i < x.Length; i++) AssertClose(gradD[i], grad[i], 2e-5, $"grad[{i}]");
    }

    /// <summary>float32 rows in one call (each row's max taken during the row before's exps, the gradient streamed when it
    /// is 12 MB or more and its rows 4 KB or more) must come out bit for bit as each row alone gives them, at any output
    /// alignment, past ignored rows and rows the general path takes (NaN, +∞), with weights and smoothing, in short rows
    /// and in rows longer than a 16384-element sum block, and write nothing outside the gradient.</summary>
    [Theory]
    [InlineData(3000, 1100, true)]    // 13.2 MB streamed; rows start on every 16-byte offset of a line
    [InlineData(3300, 1000, true)]    // 13.2 MB stored plainly (rows under 4 KB)
    [InlineData(170, 20000, true)]    // streamed, each row past one sum block
    [InlineData(60, 130, false)]
    [InlineData(60, 64, false)]
    [InlineData(60, 17, false)]
    public void RowsInOneCallAreTheSameAsEachRowAlone(int n, int c, bool weightsAndSmoothing)
    {
        (float[] x, long[] t) = Data(31 + c, (long)n * c, n, c);
        x[5L * c + 3] = float.NaN;                   // the general path between two fused rows
        x[9L * c + c - 1] = float.PositiveInfinity;
        t[5] = 1;
        t[9] = 0;
        t[10] = -100;                                // an ignored row after a general one
        var rnd = new Random(c);
        float[] g = [.. Enumerable.Range(0, n).Select(_ => (float)(rnd.NextDouble() * 2 - 0.5))];
        float[] w = weightsAndSmoothing ? [.. Enumerable.Range(0, c).Select(i => 0.25f + (i % 7) * 0.3f)] : [];
        double eps = weightsAndSmoothing ? 0.1 : 0;
        var lossAlone = new float[n];
        var gradAlone = new float[x.Length];
        for (int r = 0; r < n; r++)
        {
            Functional.CrossEntropy<float, long>(x.AsSpan(r * c, c), [1, c], t.AsSpan(r, 1), [1], lossAlone.AsSpan(r, 1), Reduction.None,
                w, -100, eps, gradAlone.AsSpan(r * c, c), g.AsSpan(r, 1));
        }

        Assert.True(float.IsNaN(gradAlone[5L * c]) && float.IsNaN(gradAlone[9L * c]) && gradAlone[10L * c] == 0f);
        foreach (int offset in new[] { 0, 1, 5, 15 })
        {
            var buffer = new float[x.Length + 32];
            var loss = new float[n];
            Functional.CrossEntropy<float, long>(x, [n, c], t, [n], loss, Reduction.None, w, -100, eps, buffer.AsSpan(offset, x.Length), g);
            Assert.True(buffer.AsSpan(0, offset).ToArray().All(v => v == 0f) && buffer.AsSpan(offset + x.Length).ToArray().All(v => v == 0f),
                $"offset {offset}: wrote outside the gradient");
            Assert.True(lossAlone.AsSpan().SequenceEqual(loss), $"offset {offset}: the losses differ");
            Span<float> grad = buffer.AsSpan(offset, x.Length);
            for (int i = 0; i < x.Length; i++)
            {
                if (BitConverter.SingleToInt32Bits(grad[i]) != BitConverter.SingleToInt32Bits(gradAlone[i]) && !(float.IsNaN(grad[i]) && float.IsNaN(gradAlone[i])))
                {
                    Assert.Fail($"offset {offset}: grad[{i}] (row {i / c}) is {grad[i]:R}, alone {gradAlone[i]:R}");
                }
            }
        }
    }

    [Fact]
    public void KDimTargetsGatheredWithWideIndicesAreTheSame()
    {
        // The 64-bit-index gather of x[t] (for C·D past int32) against the 32-bit one, bit for bit, in every element
        // type; targets cover class 0 (taken from the class-0 logit, not gathered), the last class and ignored positions.
        const int n = 2, c = 5, d = 96;
        (float[] x, long[] t) = Data(23, n * c * d, n * d, c);
        t[0] = 0;
        t[1] = c - 1;
        Half[] xh = [.. x.Select(v => (Half)v)];
        BFloat16[] xb = [.. x.Select(v => (BFloat16)v)];
        (float[], float[], Half[], Half[], BFloat16[], BFloat16[]) Run()
        {
            var lf = new float[n * d];
            var gf = new float[x.Length];
            Functional.CrossEntropy<float, long>(x, [n, c, d], t, [n, d], lf, Reduction.None, gradInput: gf);
            var lh = new Half[n * d];
            var gh = new Half[x.Length];
            Functional.CrossEntropy<Half, long>(xh, [n, c, d], t, [n, d], lh, Reduction.None, gradInput: gh);
            var lb = new BFloat16[n * d];
            var gb = new BFloat16[x.Length];
            Functional.CrossEntropy<BFloat16, long>(xb, [n, c, d], t, [n, d], lb, Reduction.None, gradInput: gb);
            return (lf, gf, lh, gh, lb, gb);
        }

        var narrow = Run();
        long limit = Xent.Kernels.TargetGather.NarrowIndexLimit;
        Xent.Kernels.TargetGather.NarrowIndexLimit = 0;
        try
        {
            var wide = Run();
            Assert.Equal(narrow.Item1, wide.Item1);
            Assert.Equal(narrow.Item2, wide.Item2);
            Assert.Equal(narrow.Item3, wide.Item3);
            Assert.Equal(narrow.Item4, wide.Item4);
            Assert.Equal(narrow.Item5, wide.Item5);
            Assert.Equal(narrow.Item6, wide.Item6);
        }
        finally
        {
            Xent.Kernels.TargetGather.NarrowIndexLimit = limit;
        }

        // And both against float64.
        Compare(x, [n, c, d], t, [n, d], Reduction.None, 0, weights: false);
    }

    [Theory]
    [InlineData(2, 7, 53)]
    [InlineData(1, 21, 400)]
    public void KDimHalfAndBFloat16MatchFloat64OnTheirOwnValues(int n, int c, int d)
    {
        (float[] x, long[] t) = Data(n + c + d, (long)n * c * d, (long)n * d, c);
        x[5 * d % x.Length] = float.NaN;   // lands in some position: NaN there, ignored or not, is handled by the fallback
        Half[] xh = [.. x.Select(v => (Half)v)];
        BFloat16[] xb = [.. x.Select(v => (BFloat16)v)];
        foreach (bool half in new[] { true, false })
        {
            double[] xd = half ? [.. xh.Select(v => (double)v)] : [.. xb.Select(v => (double)(float)v)];
            var lossD = new double[n * d];
            var gradD = new double[x.Length];
            Functional.CrossEntropy<double, long>(xd, [n, c, d], t, [n, d], lossD, Reduction.None, labelSmoothing: 0.1, gradInput: gradD);
            double[] loss, grad;
            if (half)
            {
                var l = new Half[n * d];
                var g = new Half[x.Length];
                Functional.CrossEntropy<Half, long>(xh, [n, c, d], t, [n, d], l, Reduction.None, labelSmoothing: 0.1, gradInput: g);
                loss = [.. l.Select(v => (double)v)];
                grad = [.. g.Select(v => (double)v)];
            }
            else
            {
                var l = new BFloat16[n * d];
                var g = new BFloat16[x.Length];
                Functional.CrossEntropy<BFloat16, long>(xb, [n, c, d], t, [n, d], l, Reduction.None, labelSmoothing: 0.1, gradInput: g);
                loss = [.. l.Select(v => (double)(float)v)];
                grad = [.. g.Select(v => (double)(float)v)];
            }

            double tol = half ? 2e-3 : 1.6e-2;
            for (int i = 0; i < loss.Length; i++) AssertClose(lossD[i], loss[i], tol, $"loss[{i}] half={half}");
            for (int i = 0; i < grad.Length; i++) AssertClose(gradD[i], grad[i], tol, $"grad[{i}] half={half}");
        }
    }

    [Fact]
    public void VectorBFloat16NarrowingEqualsTheScalarRounding()
    {
        var rnd = new Random(17);
        var values = new float[100_003];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BitConverter.UInt32BitsToSingle((uint)rnd.NextInt64(0, 1L << 32));
        }

        float[] special = [float.NaN, -float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, float.MaxValue,
            BitConverter.UInt32BitsToSingle(0x3F80_8000), BitConverter.UInt32BitsToSingle(0x3F81_8000), BitConverter.UInt32BitsToSingle(0x7F7F_FFFF),
            BitConverter.UInt32BitsToSingle(0x7F80_0001), BitConverter.UInt32BitsToSingle(0xFFC0_0001), float.Epsilon];
        special.CopyTo(values, 0);
        var narrowed = new BFloat16[values.Length];
        Xent.Kernels.Elements.Narrow<BFloat16, float>(values, narrowed);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(((BFloat16)values[i]).RawValue, narrowed[i].RawValue);
        }
    }

    [Fact]
    public void VectorBFloat16WideningEqualsTheScalarConversion()
    {
        // Every bit pattern, twice over and one more (so that every vector width's steps and its scalar tail run).
        var values = new BFloat16[2 * 65536 + 1];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BFloat16.FromRawValue((ushort)(i % 65536));
        }

        var widened = new float[values.Length];
        Xent.Kernels.Elements.Widen<BFloat16, float>(values, widened);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(BitConverter.SingleToUInt32Bits((float)values[i]), BitConverter.SingleToUInt32Bits(widened[i]));
        }
    }

    [Fact]
    public void ChunkedForwardHandlesInfiniteAndNaNChunks()
    {
        const int c = 10_000;
        (float[] x, long[] t) = Data(23, 4L * c, 4, c, ignoreRate: 0);
        for (int i = 0; i < 4096; i++) x[i] = float.NegativeInfinity;            // row 0: a whole chunk of −∞, then finite
        for (int i = 0; i < c; i++) x[c + i] = float.NegativeInfinity;          // row 1: all −∞ → NaN
        x[2 * c + 5000] = float.NaN;                                            // row 2: NaN in the second chunk → NaN
        x[3 * c + 9999] = 80f;                                                  // row 3: the max in the last chunk
        t[0] = 4097;
        var lossF = new float[4];
        Functional.CrossEntropy<float, long>(x, [4, c], t, [4], lossF, Reduction.None);
        var lossD = new double[4];
        Functional.CrossEntropy<double, long>([.. x.Select(v => (double)v)], [4, c], t, [4], lossD, Reduction.None);
        AssertClose(lossD[0], lossF[0], 2e-5, "row 0");
        Assert.True(float.IsNaN(lossF[1]));
        Assert.True(float.IsNaN(lossF[2]));
        AssertClose(lossD[3], lossF[3], 2e-5, "row 3");
    }

    [Theory]
    [InlineData(100, 3)]      // NaN in the first vector, more vectors after it: the bare vmaxps drops it
    [InlineData(100, 98)]     // in the scalar tail
    [InlineData(5000, 17)]
    public void NaNThatTheMaxPassesOverStillMakesTheRowNaN(int c, int at)
    {
        (float[] x, long[] t) = Data(29, 2L * c, 2, c, ignoreRate: 0);
        x[at] = float.NaN;   // row 0 only
        var lossF = new float[2];
        var lossFwd = new float[2];
        var grad = new float[x.Length];
        Functional.CrossEntropy<float, long>(x, [2, c], t, [2], lossF, Reduction.None, gradInput: grad);
        Functional.CrossEntropy<float, long>(x, [2, c], t, [2], lossFwd, Reduction.None);
        Assert.True(float.IsNaN(lossF[0]));
        Assert.True(float.IsNaN(lossFwd[0]));
        for (int i = 0; i < c; i++) Assert.True(float.IsNaN(grad[i]), $"grad[{i}]");
        Assert.True(float.IsFinite(lossF[1]));
        AssertClose(lossF[1], lossFwd[1], 1e-6, "row 1");
    }

    /// <summary>A float16 / bfloat16 row is widened in its max pass and its gradient narrowed in its gradient pass;
    /// the float32 kernel on the widened values, rounded once at the end, must give the same bits.</summary>
    [Theory]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(47)]
    [InlineData(1000)]
    [InlineData(70_001)]   // past the scratch row: the unfused path
    public void LowPrecisionRowsEqualTheFloatKernelRoundedOnce(int c)
    {
        const int n = 8;
        (float[] x, long[] t) = Data(c, (long)n * c, n, c);
        t[1] = -100;
        x[1 * c + 3] = float.NaN;                   // ignored row: nothing
        x[2 * c + 5] = float.NaN;                   // NaN row (float.NaN has its sign bit set: a negative NaN)
        x[6 * c + c - 2] = BitConverter.Int32BitsToSingle(0x7FC00000);   // a positive NaN
        for (int i = 0; i < c; i++) x[7 * c + i] = -1f - MathF.Abs(x[7 * c + i]);
        x[7 * c + c / 3] = float.NaN;               // a negative NaN in a row of negative logits
        x[3 * c + c - 1] = float.PositiveInfinity;  // +∞ row
        x[4 * c] = float.NegativeInfinity;          // −∞ logit: finite row
        t[4] = 1;
        x[5 * c] = 65504f;                          // +∞ beside the largest half as the first logit: less than 80
        x[5 * c + c / 2] = float.PositiveInfinity;  // above it as float16's fast read sees it (65536)
        t[5] = 0;
        var upstream = new float[n];
        for (int i = 0; i < n; i++) upstream[i] = 0.5f + i;
        float[] w = [.. Enumerable.Range(0, c).Select(i => 0.25f + (i % 7) * 0.3f)];
        foreach (bool half in new[] { true, false })
        {
            foreach ((Reduction reduction, double eps, bool weighted) in new[] { (Reduction.None, 0.0, false), (Reduction.Mean, 0.2, true), (Reduction.Sum, 0.0, true) })
            {
                float[] xr = half ? [.. x.Select(v => (float)(Half)v)] : [.. x.Select(v => (float)(BFloat16)v)];
                float[]? wr = weighted ? (half ? [.. w.Select(v => (float)(Half)v)] : [.. w.Select(v => (float)(BFloat16)v)]) : null;
                int lossLength = reduction == Reduction.None ? n : 1;
                var lossF = new float[lossLength];
                var gradF = new float[xr.Length];
                Functional.CrossEntropy<float, long>(xr, [n, c], t, [n], lossF, reduction, wr, -100, eps, gradF,
                    reduction == Reduction.None ? upstream : null);
                string what = $"c={c} half={half} {reduction}";
                // Forward only (its own chunked path): the float kernel's losses, rounded once.
                var lossFwdF = new float[n];
                Functional.CrossEntropy<float, long>(xr, [n, c], t, [n], lossFwdF, Reduction.None, wr);
                if (half)
                {
                    var lossFwd = new Half[n];
                    Functional.CrossEntropy<Half, long>([.. xr.Select(v => (Half)v)], [n, c], t, [n], lossFwd, Reduction.None,
                        wr is null ? null : [.. wr.Select(v => (Half)v)]);
                    for (int i = 0; i < n; i++) Assert.True(float.IsNaN(lossFwdF[i]) ? Half.IsNaN(lossFwd[i]) : (Half)lossFwdF[i] == lossFwd[i], $"{what} forward loss[{i}]");
                }
                else
                {
                    var lossFwd = new BFloat16[n];
                    Functional.CrossEntropy<BFloat16, long>([.. xr.Select(v => (BFloat16)v)], [n, c], t, [n], lossFwd, Reduction.None,
                        wr is null ? null : [.. wr.Select(v => (BFloat16)v)]);
                    for (int i = 0; i < n; i++) Assert.True(float.IsNaN(lossFwdF[i]) ? float.IsNaN((float)lossFwd[i]) : (BFloat16)lossFwdF[i] == lossFwd[i], $"{what} forward loss[{i}]");
                }

                if (half)
                {
                    var loss = new Half[lossLength];
                    var grad = new Half[xr.Length];
                    Functional.CrossEntropy<Half, long>([.. xr.Select(v => (Half)v)], [n, c], t, [n], loss, reduction,
                        wr is null ? null : [.. wr.Select(v => (Half)v)], -100, eps, grad,
                        reduction == Reduction.None ? [.. upstream.Select(v => (Half)v)] : null);
                    for (int i = 0; i < lossLength; i++) Assert.True(float.IsNaN(lossF[i]) ? Half.IsNaN(loss[i]) : (Half)lossF[i] == loss[i], $"{what} loss[{i}]");
                    for (int i = 0; i < grad.Length; i++) Assert.True(float.IsNaN(gradF[i]) ? Half.IsNaN(grad[i]) : BitConverter.HalfToUInt16Bits((Half)gradF[i]) == BitConverter.HalfToUInt16Bits(grad[i]), $"{what} grad[{i}]: {(Half)gradF[i]} vs {grad[i]}");
                }
                else
                {
                    var loss = new BFloat16[lossLength];
                    var grad = new BFloat16[xr.Length];
                    Functional.CrossEntropy<BFloat16, long>([.. xr.Select(v => (BFloat16)v)], [n, c], t, [n], loss, reduction,
                        wr is null ? null : [.. wr.Select(v => (BFloat16)v)], -100, eps, grad,
                        reduction == Reduction.None ? [.. upstream.Select(v => (BFloat16)v)] : null);
                    for (int i = 0; i < lossLength; i++) Assert.True(float.IsNaN(lossF[i]) ? float.IsNaN((float)loss[i]) : (BFloat16)lossF[i] == loss[i], $"{what} loss[{i}]");
                    for (int i = 0; i < grad.Length; i++) Assert.True(float.IsNaN(gradF[i]) ? float.IsNaN((float)grad[i]) : (float)(BFloat16)gradF[i] == (float)grad[i], $"{what} grad[{i}]: {(float)(BFloat16)gradF[i]} vs {(float)grad[i]}");
                }
            }
        }
    }

    /// <summary>uint8 targets (MindSpore's labels) are read 8 and 16 at a time, in the targets' pre-pass and in the K-dim
    /// tile: every result must be the bits that int64 targets of the same values give, with 255 or a class as the
    /// ignore_index, or one a byte cannot hold (nothing ignored), and an out-of-bounds byte reported.</summary>
    [Theory]
    [InlineData(255L, 0.2)]
    [InlineData(3L, 0.0)]
    [InlineData(-100L, 0.1)]
    public void ByteTargetsGiveTheBitsOfInt64Targets(long ignoreIndex, double smoothing)
    {
        const int n = 2, c = 21, d = 37 * 41;   // 3034 positions: 8- and 16-position steps and their tails
        var rnd = new Random((int)ignoreIndex + 1000);
        float[] x = [.. Enumerable.Range(0, n * c * d).Select(_ => (float)(rnd.NextDouble() * 10 - 5))];
        byte[] t8 = [.. Enumerable.Range(0, n * d).Select(_ => rnd.Next(10) == 0 && ignoreIndex == 255 ? (byte)255 : (byte)rnd.Next(c))];
        long[] t64 = [.. t8.Select(v => (long)v)];
        float[] w = [.. Enumerable.Range(0, c).Select(i => 0.5f + (i % 5) * 0.25f)];
        BFloat16[] xb = [.. x.Select(v => (BFloat16)v)];
        foreach (Reduction reduction in new[] { Reduction.Mean, Reduction.None })
        {
            foreach (float[]? weight in new[] { null, w })
            {
                BFloat16[]? wb = weight is null ? null : [.. weight.Select(v => (BFloat16)v)];
                int lossLength = reduction == Reduction.None ? n * d : 1;
                var (l8, g8, l64, g64) = (new float[lossLength], new float[x.Length], new float[lossLength], new float[x.Length]);
                Functional.CrossEntropy<float, byte>(x, [n, c, d], t8, [n, d], l8, reduction, weight, ignoreIndex, smoothing, g8);
                Functional.CrossEntropy<float, long>(x, [n, c, d], t64, [n, d], l64, reduction, weight, ignoreIndex, smoothing, g64);
                Assert.Equal(l64, l8);
                Assert.Equal(g64, g8);
                var (h8, h64) = (new BFloat16[x.Length], new BFloat16[x.Length]);
                Functional.CrossEntropy<BFloat16, byte>(xb, [n, c, d], t8, [n, d], default, reduction, wb, ignoreIndex, smoothing, h8);
                Functional.CrossEntropy<BFloat16, long>(xb, [n, c, d], t64, [n, d], default, reduction, wb, ignoreIndex, smoothing, h64);
                Assert.Equal(h64.Select(v => (float)v), h8.Select(v => (float)v));
            }
        }

        // A bad byte among thousands: the first in order is reported, and nothing is written.
        t8[2900] = 200;
        t8[1700] = (byte)c;
        ErrorTests.ThrowsOutOfRange("target", $"Target {c} is out of bounds.", 1, x.Length, (loss, grad) =>
            Functional.CrossEntropy<float, byte>(x, [n, c, d], t8, [n, d], loss, Reduction.Mean, default, ignoreIndex, smoothing, grad));
    }

    /// <summary>K-dim float16 / bfloat16 tiles are widened as they are loaded and their gradient narrowed as it is
    /// stored: the float32 kernel on the widened values, rounded once, must give the same bits. Under a mean over
    /// 40000 positions every float16 gradient is below 2^−14 and takes the short rounding.</summary>
    [Theory]
    [InlineData(3, 40)]
    [InlineData(21, 100)]
    [InlineData(4, 20000)]
    public void LowPrecisionKDimEqualsTheFloatKernelRoundedOnce(int c, int d)
    {
        const int n = 2;
        (float[] x, long[] t) = Data(c * d, (long)n * c * d, (long)n * d, c);
        x[1 * d + 7] = float.NaN;   // position 7 of sample 0, class 1: that group goes to the general path
        t[7] = 0;
        // Beside the largest half as the class-0 logit (the reference), an infinity or NaN is less than 80 above it as
        // float16's fast read sees them (65536 and up): its max check must send these groups to the general path too.
        (x[0 * d + 23], x[1 * d + 23], t[23]) = (65504f, float.PositiveInfinity, 2);
        (x[(c + 0) * d + 31], x[(c + 2) * d + 31], t[d + 31]) = (65504f, float.NaN, 1);
        // −∞ at the target (loss +∞) and elsewhere (smoothing's Σ(x − r) is −∞).
        (x[1 * d + 35], t[35]) = (float.NegativeInfinity, 1);
        (x[(c + 2) * d + 36], t[d + 36]) = (float.NegativeInfinity, 0);
        foreach ((bool half, Reduction reduction) in new[] { (true, Reduction.None), (false, Reduction.None), (true, Reduction.Mean), (false, Reduction.Mean) })
        {
            float[] xr = half ? [.. x.Select(v => (float)(Half)v)] : [.. x.Select(v => (float)(BFloat16)v)];
            int lossLength = reduction == Reduction.None ? n * d : 1;
            var lossF = new float[lossLength];
            var gradF = new float[xr.Length];
            Functional.CrossEntropy<float, long>(xr, [n, c, d], t, [n, d], lossF, reduction, labelSmoothing: 0.1, gradInput: gradF);
            float[] loss, grad;
            if (half)
            {
                var l = new Half[lossLength];
                var g = new Half[xr.Length];
                Functional.CrossEntropy<Half, long>([.. xr.Select(v => (Half)v)], [n, c, d], t, [n, d], l, reduction, labelSmoothing: 0.1, gradInput: g);
                (loss, grad) = ([.. l.Select(v => (float)v)], [.. g.Select(v => (float)v)]);
            }
            else
            {
                var l = new BFloat16[lossLength];
                var g = new BFloat16[xr.Length];
                Functional.CrossEntropy<BFloat16, long>([.. xr.Select(v => (BFloat16)v)], [n, c, d], t, [n, d], l, reduction, labelSmoothing: 0.1, gradInput: g);
                (loss, grad) = ([.. l.Select(v => (float)v)], [.. g.Select(v => (float)v)]);
            }

            float Round(float v) => half ? (float)(Half)v : (float)(BFloat16)v;
            for (int i = 0; i < loss.Length; i++) Assert.True(float.IsNaN(lossF[i]) ? float.IsNaN(loss[i]) : Round(lossF[i]) == loss[i], $"half={half} {reduction} loss[{i}]");
            for (int i = 0; i < grad.Length; i++) Assert.True(float.IsNaN(gradF[i]) ? float.IsNaN(grad[i]) : Round(gradF[i]) == grad[i], $"half={half} {reduction} grad[{i}]");
        }
    }

    /// <summary>A K-dim probability-target gradient over 12 MB is streamed past the cache, each class's run from its own
    /// first aligned line: whatever the output's alignment and D, every position must get the same bits, agree with
    /// float64 (weights and smoothing included), and nothing outside the gradient may be written.</summary>
    [Theory]
    [InlineData(1 << 20)]
    [InlineData((1 << 20) + 7)]
    public void KDimStreamedProbabilityGradientIsTheSameAtEveryAlignment(int d)
    {
        const int n = 1, c = 3;   // 12.6 MB of float gradient
        var rnd = new Random(d);
        float[] x = [.. Enumerable.Range(0, n * c * d).Select(_ => (float)(rnd.NextDouble() * 12 - 6))];
        float[] p = [.. Enumerable.Range(0, n * c * d).Select(_ => (float)rnd.NextDouble() / c * 2)];
        x[1 * d + 1000] = float.NaN;   // a group for the general path, in the middle of a streamed run
        float[] w = [0.5f, 1.25f, 2f];
        (float[] loss, float[] grad) = SameBitsAtEveryOffset(x.Length, n * d, (loss, grad) =>
            Functional.CrossEntropy<float>(x, [n, c, d], p, loss, Reduction.None, w, 0.1, grad));
        var lossD = new double[n * d];
        var gradD = new double[x.Length];
        Functional.CrossEntropy<double>([.. x.Select(v => (double)v)], [n, c, d], [.. p.Select(v => (double)v)], lossD, Reduction.None,
            [.. w.Select(v => (double)v)], 0.1, gradD);
        for (int i = 0; i < n * d; i++) AssertClose(lossD[i], loss[i], 2e-5, $"loss[{i}]");
        for (int i = 0; i < x.Length; i++) AssertClose(gradD[i], grad[i], 2e-5, $"grad[{i}]");
    }

    /// <summary>A K-dim gradient over 12 MB is streamed past the cache in aligned lines put together from two groups;
    /// whatever the output's alignment, every position must get the same bits, and agree with float64. With D not a
    /// multiple of a line, each class's run has its own partial lines. With and without smoothing and weights (the
    /// portable tiles of AVX2 machines pick each target's own term in the streamed run).</summary>
    [Theory]
    [InlineData(1 << 20, 0.1, false)]
    [InlineData((1 << 20) + 7, 0.1, false)]
    [InlineData((1 << 20) + 7, 0.0, true)]
    public void KDimStreamedGradientIsTheSameAtEveryAlignment(int d, double smoothing, bool weighted)
    {
        const int n = 1, c = 3;   // 12.6 MB of float gradient
        (float[] x, long[] t) = Data(31, (long)n * c * d, (long)n * d, c);
        x[1 * d + 1000] = float.NaN;   // a group for the general path, in the middle of a streamed run
        t[1000] = 2;
        float[]? w = weighted ? [0.5f, 2f, 1.25f] : null;
        (float[] loss, float[] grad) = SameBitsAtEveryOffset(x.Length, d, (loss, grad) =>
            Functional.CrossEntropy<float, long>(x, [n, c, d], t, [n, d], loss, Reduction.None, w, labelSmoothing: smoothing, gradInput: grad));
        var lossD = new double[d];
        var gradD = new double[x.Length];
        Functional.CrossEntropy<double, long>([.. x.Select(v => (double)v)], [n, c, d], t, [n, d], lossD, Reduction.None,
            w?.Select(v => (double)v).ToArray(), labelSmoothing: smoothing, gradInput: gradD);
        for (int i = 0; i < d; i++) AssertClose(lossD[i], loss[i], 2e-5, $"loss[{i}]");
        for (int i = 0; i < x.Length; i++) AssertClose(gradD[i], grad[i], 2e-5, $"grad[{i}]");
    }

    /// <summary>After its first chunk the forward takes each chunk's exps against the running max in the same pass as the
    /// chunk's max: a later chunk far above (an exp would overflow), a little above (the sum is rescaled) or far below
    /// (its exps underflow) must all give the float64 loss.</summary>
    [Theory]
    [InlineData(150f)]
    [InlineData(85f)]
    [InlineData(79f)]
    [InlineData(30f)]
    [InlineData(-120f)]
    public void SinglePassForwardHandlesLaterChunksFarFromTheRunningMax(float shift)
    {
        const int c = 20_000;   // five chunks
        (float[] x, long[] t) = Data(37, 3L * c, 3, c, ignoreRate: 0);
        for (int i = 8192; i < 12288; i++) x[i] += shift;            // row 0: the third chunk shifted
        for (int i = c + 16000; i < 2 * c; i++) x[i] += shift;      // row 1: the last chunk (and its tail) shifted
        x[2 * c + 12345] = float.NegativeInfinity;                  // row 2: a −∞ in a later chunk
        t[0] = 9000;
        var lossF = new float[3];
        Functional.CrossEntropy<float, long>(x, [3, c], t, [3], lossF, Reduction.None);
        var lossD = new double[3];
        Functional.CrossEntropy<double, long>([.. x.Select(v => (double)v)], [3, c], t, [3], lossD, Reduction.None);
        for (int i = 0; i < 3; i++) AssertClose(lossD[i], lossF[i], 2e-5, $"row {i}");
    }

    /// <summary>The K-dim kernel takes its exps against each position's class-0 logit: a position whose other logits lie
    /// far above it (an exp would overflow) goes to the general path; far below, the exps underflow as they should.</summary>
    [Fact]
    public void KDimLogitsFarFromTheFirstClassMatchFloat64()
    {
        const int n = 2, c = 7, d = 96;
        (float[] x, long[] t) = Data(41, (long)n * c * d, (long)n * d, c);
        for (int j = 0; j < d; j += 3) x[j] -= 100f;                  // sample 0: class 0 far below at every third position
        for (int j = 1; j < d; j += 5) x[c * d + j] += 100f;          // sample 1: class 0 far above
        for (int j = 2; j < d; j += 7) x[3 * d + j] += 85f;           // sample 0: class 3 just past the overflow margin
        Compare(x, [n, c, d], t, [n, d], Reduction.None, 0.1, weights: true);
        Compare(x, [n, c, d], t, [n, d], Reduction.Mean, 0, weights: false);
    }

    /// <summary>The K-dim kernel reads int64 and int32 targets 16 at a time (and gathers w[t]); ignore_index may be any
    /// int64, inside int32's range or not.</summary>
    [Theory]
    [InlineData(-100L)]
    [InlineData(2L)]
    [InlineData(1L << 40)]
    public void KDimVectorTargetsMatchFloat64ForEveryTargetTypeAndIgnoreIndex(long ignoreIndex)
    {
        const int n = 2, c = 5, d = 48;
        (float[] x, long[] t) = Data(43, (long)n * c * d, (long)n * d, c, ignoreRate: 0);
        // -100 and 2 ignore every seventh position; 1 << 40 (no int32 can equal it) ignores none.
        if (ignoreIndex != 1L << 40) for (int i = 0; i < t.Length; i += 7) t[i] = ignoreIndex;
        float[] w = [0.5f, 1.5f, 2f, 0.25f, 1f];
        double[] wd = [.. w.Select(v => (double)v)];
        double[] xd = [.. x.Select(v => (double)v)];
        var lossD = new double[n * d];
        var gradD = new double[x.Length];
        Functional.CrossEntropy<double, long>(xd, [n, c, d], t, [n, d], lossD, Reduction.None, wd, ignoreIndex, 0.1, gradD);
        int[] ti = [.. t.Select(v => (int)v)];
        foreach (bool int32 in new[] { false, true })
        {
            var loss = new float[n * d];
            var grad = new float[x.Length];
            if (int32) Functional.CrossEntropy<float, int>(x, [n, c, d], ti, [n, d], loss, Reduction.None, w, ignoreIndex, 0.1, grad);
            else Functional.CrossEntropy<float, long>(x, [n, c, d], t, [n, d], loss, Reduction.None, w, ignoreIndex, 0.1, grad);
            for (int i = 0; i < loss.Length; i++) AssertClose(lossD[i], loss[i], 2e-5, $"int32={int32} loss[{i}]");
            for (int i = 0; i < grad.Length; i++) AssertClose(gradD[i], grad[i], 2e-5, $"int32={int32} grad[{i}]");
        }
    }

    /// <summary>A 16-bit K-dim gradient over 12 MB is streamed in whole lines, each computed at its own positions: at
    /// several output alignments it must equal the float32 kernel's gradient on the widened values, rounded once, and
    /// write nothing outside the gradient. With D not a multiple of a line, each class's run has its own partial lines.</summary>
    [Theory]
    [InlineData(1 << 21)]
    [InlineData((1 << 21) + 13)]
    public void KDimLargeLowPrecisionGradientIsTheFloatKernelsRoundedOnce(int d)
    {
        const int n = 1, c = 3;   // 6.3 M elements, 12.6 MB of 16-bit gradient
        (float[] x, long[] t) = Data(47, (long)n * c * d, (long)n * d, c);
        x[2 * d + 5000] = float.NaN;   // a group for the general path, in the middle of a streamed run
        t[5000] = 1;
        foreach (bool half in new[] { true, false })
        {
            float[] xr = half ? [.. x.Select(v => (float)(Half)v)] : [.. x.Select(v => (float)(BFloat16)v)];
            // Sum at three offsets, a mean at three more (its float16 gradients all lie below 2^−14: the short rounding).
            var gradSum = new float[xr.Length];
            var gradMean = new float[xr.Length];
            Functional.CrossEntropy<float, long>(xr, [n, c, d], t, [n, d], default, Reduction.Sum, labelSmoothing: 0.1, gradInput: gradSum);
            Functional.CrossEntropy<float, long>(xr, [n, c, d], t, [n, d], default, Reduction.Mean, labelSmoothing: 0.1, gradInput: gradMean);
            foreach (int offset in new[] { 0, 1, 7, 15, 16, 29 })
            {
                Reduction reduction = offset < 10 ? Reduction.Sum : Reduction.Mean;
                float[] gradF = offset < 10 ? gradSum : gradMean;
                float[] grad;
                if (half)
                {
                    var buffer = new Half[xr.Length + 32];
                    Functional.CrossEntropy<Half, long>([.. xr.Select(v => (Half)v)], [n, c, d], t, [n, d], default, reduction,
                        labelSmoothing: 0.1, gradInput: buffer.AsSpan(offset, xr.Length));
                    Assert.True(buffer.AsSpan(0, offset).ToArray().All(v => v == Half.Zero), $"offset {offset}: wrote before the gradient");
                    Assert.True(buffer.AsSpan(offset + xr.Length).ToArray().All(v => v == Half.Zero), $"offset {offset}: wrote after the gradient");
                    grad = [.. buffer.AsSpan(offset, xr.Length).ToArray().Select(v => (float)v)];
                }
                else
                {
                    var buffer = new BFloat16[xr.Length + 32];
                    Functional.CrossEntropy<BFloat16, long>([.. xr.Select(v => (BFloat16)v)], [n, c, d], t, [n, d], default, reduction,
                        labelSmoothing: 0.1, gradInput: buffer.AsSpan(offset, xr.Length));
                    Assert.True(buffer.AsSpan(0, offset).ToArray().All(v => v == default) && buffer.AsSpan(offset + xr.Length).ToArray().All(v => v == default),
                        $"offset {offset}: wrote outside the gradient");
                    grad = [.. buffer.AsSpan(offset, xr.Length).ToArray().Select(v => (float)v)];
                }

                for (int i = 0; i < grad.Length; i++)
                {
                    float expected = half ? (float)(Half)gradF[i] : (float)(BFloat16)gradF[i];
                    if (!(float.IsNaN(expected) ? float.IsNaN(grad[i]) : expected == grad[i]))
                    {
                        Assert.Fail($"half={half} offset {offset}: grad[{i}] = {grad[i]:R}, expected {expected:R}");
                    }
                }
            }
        }
    }

    /// <summary>Long 16-bit rows past 12 MB stream their narrowed gradient from their first line on (800 × 8192: 6.5 M
    /// elements, 13 MB of gradient, 16 KB rows); 1000-class rows store it plainly. At any output alignment it must equal
    /// the float32 kernel's gradient on the widened values, rounded once. Under a mean over this many rows nearly every
    /// float16 gradient is below 2^−14 and takes the short rounding; every third row has three logits 9 above the
    /// others, whose gradients (about 3·10^−4) must take the full one, wherever they fall in the row's vectors.</summary>
    [Theory]
    [InlineData(800, 8192)]
    [InlineData(1600, 1000)]
    public void MeanLowPrecisionRowsEqualTheFloatKernelRoundedOnce(int n, int c)
    {
        (float[] x, long[] t) = Data(53, (long)n * c, n, c);
        for (int r = 0; r < n; r += 3)
        {
            int k = r * 131 % c;
            foreach (int peak in new[] { k, (k + 16) % c, c - 1 - r % 40 })
            {
                x[(long)r * c + peak] = 15f;
            }
        }
        foreach (bool half in new[] { true, false })
        {
            float[] xr = half ? [.. x.Select(v => (float)(Half)v)] : [.. x.Select(v => (float)(BFloat16)v)];
            var gradF = new float[xr.Length];
            Functional.CrossEntropy<float, long>(xr, [n, c], t, [n], default, Reduction.Mean, gradInput: gradF);
            if (half)
            {
                Half[] xh = [.. xr.Select(v => (Half)v)];
                RoundedOnceAtEveryOffset(gradF, v => (Half)v, v => (float)v, "half",
                    grad => Functional.CrossEntropy<Half, long>(xh, [n, c], t, [n], default, Reduction.Mean, gradInput: grad));
            }
            else
            {
                BFloat16[] xb = [.. xr.Select(v => (BFloat16)v)];
                RoundedOnceAtEveryOffset(gradF, v => (BFloat16)v, v => (float)v, "bfloat16",
                    grad => Functional.CrossEntropy<BFloat16, long>(xb, [n, c], t, [n], default, Reduction.Mean, gradInput: grad));
            }
        }
    }

    /// <summary>Runs <paramref name="run"/> with its 16-bit gradient at output offsets 0, 3 and 15 elements: it must be
    /// <paramref name="gradF"/> (the float32 kernel's) rounded once, bit for bit, with nothing written outside it.</summary>
    private static void RoundedOnceAtEveryOffset<T>(float[] gradF, Func<float, T> round, Func<T, float> widen, string what, Action<Span<T>> run)
        where T : unmanaged
    {
        foreach (int offset in new[] { 0, 3, 15 })
        {
            var buffer = new T[gradF.Length + 16];
            run(buffer.AsSpan(offset, gradF.Length));
            Assert.True(buffer.AsSpan(0, offset).ToArray().All(v => BitConverter.SingleToInt32Bits(widen(v)) == 0)
                && buffer.AsSpan(offset + gradF.Length).ToArray().All(v => BitConverter.SingleToInt32Bits(widen(v)) == 0),
                $"{what} offset {offset}: wrote outside the gradient");
            for (int i = 0; i < gradF.Length; i++)
            {
                float expected = widen(round(gradF[i])), actual = widen(buffer[offset + i]);
                if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual))
                {
                    Assert.Fail($"{what} offset {offset}: grad[{i}] = {actual:R}, expected {expected:R}");
                }
            }
        }
    }

    /// <summary>16-bit probability-target rows are widened into a float row and their gradient narrowed from one; long
    /// bfloat16 rows past 12 MB stream it (800 × 8192: 13 MB of gradient, 16 KB rows) from their first 32-byte boundary
    /// on. At any output alignment the gradient must equal the float32 kernel's on the widened values, rounded once.</summary>
    [Fact]
    public void StreamedLowPrecisionProbabilityRowsEqualTheFloatKernelRoundedOnce()
    {
        const int n = 800, c = 8192;
        (float[] x, _) = Data(59, (long)n * c, n, c);
        var random = new Random(61);
        float[] p = [.. Enumerable.Range(0, n * c).Select(_ => (float)random.NextDouble())];
        foreach (bool half in new[] { true, false })
        {
            float[] xr = half ? [.. x.Select(v => (float)(Half)v)] : [.. x.Select(v => (float)(BFloat16)v)];
            float[] pr = half ? [.. p.Select(v => (float)(Half)v)] : [.. p.Select(v => (float)(BFloat16)v)];
            var gradF = new float[xr.Length];
            Functional.CrossEntropy<float>(xr, [n, c], pr, default, Reduction.Sum, labelSmoothing: 0.1, gradInput: gradF);
            if (half)
            {
                Half[] xh = [.. xr.Select(v => (Half)v)], ph = [.. pr.Select(v => (Half)v)];
                RoundedOnceAtEveryOffset(gradF, v => (Half)v, v => (float)v, "half",
                    grad => Functional.CrossEntropy<Half>(xh, [n, c], ph, default, Reduction.Sum, labelSmoothing: 0.1, gradInput: grad));
            }
            else
            {
                BFloat16[] xb = [.. xr.Select(v => (BFloat16)v)], pb = [.. pr.Select(v => (BFloat16)v)];
                RoundedOnceAtEveryOffset(gradF, v => (BFloat16)v, v => (float)v, "bfloat16",
                    grad => Functional.CrossEntropy<BFloat16>(xb, [n, c], pb, default, Reduction.Sum, labelSmoothing: 0.1, gradInput: grad));
            }
        }
    }

    /// <summary>bfloat16 probability-target rows are read in place with AVX-512 (the widened path elsewhere, and for rows
    /// whose max or sums are not finite): the loss and gradient must be the float32 kernel's on the widened values,
    /// rounded once, with and without weights and smoothing, for every reduction and for the loss alone.</summary>
    [Theory]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(47)]
    [InlineData(1000)]
    public void BFloat16ProbabilityRowsEqualTheFloatKernelRoundedOnce(int c)
    {
        const int n = 6;
        (float[] x, _) = Data(67, (long)n * c, n, c);
        var random = new Random(71);
        float[] p = [.. Enumerable.Range(0, n * c).Select(_ => random.Next(4) == 0 ? 0f : (float)random.NextDouble())];
        x[1 * c + 3] = float.NaN;                   // NaN row
        x[2 * c + c - 1] = float.PositiveInfinity;  // +∞ row
        x[3 * c] = float.NegativeInfinity;          // −∞ logit with a target of 0 there: NaN, as in PyTorch
        p[3 * c] = 0f;
        x[4 * c + 5] = float.NegativeInfinity;      // −∞ logit with a positive target: +∞
        p[4 * c + 5] = 0.5f;
        p[5 * c + 2] = float.PositiveInfinity;      // +∞ target
        float[] xr = [.. x.Select(v => (float)(BFloat16)v)];
        float[] pr = [.. p.Select(v => (float)(BFloat16)v)];
        float[] w = [.. Enumerable.Range(0, c).Select(i => (float)(BFloat16)(0.25f + (i % 7) * 0.3f))];
        float[] upstream = [.. Enumerable.Range(0, n).Select(i => (float)(BFloat16)(0.5f + i))];
        BFloat16[] xb = [.. xr.Select(v => (BFloat16)v)], pb = [.. pr.Select(v => (BFloat16)v)], wb = [.. w.Select(v => (BFloat16)v)];
        foreach ((Reduction reduction, double eps, bool weighted, bool withGrad) in new[]
            { (Reduction.None, 0.0, false, true), (Reduction.Mean, 0.2, true, true), (Reduction.Sum, 0.0, true, true), (Reduction.None, 0.1, true, false) })
        {
            string what = $"c={c} {reduction} ε={eps} weighted={weighted} grad={withGrad}";
            int lossLength = reduction == Reduction.None ? n : 1;
            var lossF = new float[lossLength];
            var gradF = withGrad ? new float[xr.Length] : [];
            Functional.CrossEntropy<float>(xr, [n, c], pr, lossF, reduction, weighted ? w : default, eps, gradF,
                reduction == Reduction.None && withGrad ? upstream : default);
            var loss = new BFloat16[lossLength];
            var grad = withGrad ? new BFloat16[xr.Length] : [];
            Functional.CrossEntropy<BFloat16>(xb, [n, c], pb, loss, reduction, weighted ? wb : default, eps, grad,
                reduction == Reduction.None && withGrad ? [.. upstream.Select(v => (BFloat16)v)] : default);
            for (int i = 0; i < lossLength; i++)
            {
                Assert.True(float.IsNaN(lossF[i]) ? float.IsNaN((float)loss[i]) : (float)(BFloat16)lossF[i] == (float)loss[i],
                    $"{what} loss[{i}]: {(float)loss[i]:R}, expected {(float)(BFloat16)lossF[i]:R}");
            }

            for (int i = 0; i < grad.Length; i++)
            {
                Assert.True(float.IsNaN(gradF[i]) ? float.IsNaN((float)grad[i]) : (float)(BFloat16)gradF[i] == (float)grad[i],
                    $"{what} grad[{i}]: {(float)grad[i]:R}, expected {(float)(BFloat16)gradF[i]:R}");
            }
        }
    }

    /// <summary>A K-dim layout with many classes (2000: tiles of 16 positions) sums each position's exps over them: in one
    /// float sum with 2000 roundings a probability came out 2.3·10^−6 off, relatively (`agree` found 15 ulp at C = 1000,
    /// three times libtorch's error); summed in blocks of classes, 5·10^−7. Every gradient element but the target's
    /// (p_k, about 6·10^−4 here) must be within 1·10^−6 of float64's, relatively.</summary>
    [Fact]
    public void KDimManyClassesKeepTheSumsDigits()
    {
        const int n = 2, c = 2000, d = 64;
        var random = new Random(73);
        float[] x = [.. Enumerable.Range(0, n * c * d).Select(_ => (float)-random.NextDouble())];
        long[] t = [.. Enumerable.Range(0, n * d).Select(_ => (long)random.Next(c))];
        var grad = new float[x.Length];
        Functional.CrossEntropy<float, long>(x, [n, c, d], t, [n, d], default, Reduction.Sum, gradInput: grad);
        double worst = 0;
        for (int b = 0; b < n; b++)
        {
            for (int j = 0; j < d; j++)
            {
                double m = double.NegativeInfinity, sum = 0;
                for (int k = 0; k < c; k++) m = Math.Max(m, x[(b * c + k) * d + j]);
                for (int k = 0; k < c; k++) sum += Math.Exp(x[(b * c + k) * d + j] - m);
                for (int k = 0; k < c; k++)
                {
                    if (k == t[b * d + j]) continue;
                    int i = (b * c + k) * d + j;
                    double p = Math.Exp(x[i] - m) / sum;
                    worst = Math.Max(worst, Math.Abs(grad[i] - p) / p);
                }
            }
        }

        Assert.True(worst <= 1e-6, $"largest relative error of a probability: {worst:G3}");
    }
}
