using System.Diagnostics;
using System.Globalization;
using Xent.Bench.Compare;
using static TorchSharp.torch;

namespace Xent.Bench.Agree;

/// <summary>
/// <c>agree [--seed S] [--cases N] [--only K] [--verbose] [--minimize]</c>: a randomized differential check of Xent against libtorch.
/// Each case (drawn from the seed and its index alone) is run by Xent in its element type, by libtorch in the same type,
/// and by libtorch in float64 on the same values (the truth). Xent fails a case when it is clearly further from the truth
/// than libtorch's own result in that type: error &gt; 2·libtorch's error + a floor (a few ulps of the type at the value,
/// plus a few float32 or float64 epsilons times the magnitude of what was summed). Some invalid cases per run check that
/// both sides reject them; their messages are shown side by side.
/// </summary>
internal static class AgreeCommand
{
    private const double Eps32 = 1.0 / (1 << 23);

    public static int Run(string[] args)
    {
        int seed = 1, cases = 200;
        int? only = null;
        bool verbose = false, minimize = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seed" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out seed):
                    i++;
                    break;
                case "--cases" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out cases):
                    i++;
                    break;
                case "--only" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int k):
                    only = k;
                    i++;
                    break;
                case "--verbose":
                    verbose = true;
                    break;
                case "--minimize":
                    minimize = true;
                    break;
                default:
                    Console.Error.WriteLine($"agree: unknown argument '{args[i]}' (expected --seed S, --cases N, --only K, --verbose, --minimize)");
                    return 2;
            }
        }

        string? torchProblem = TorchReference.TryInitialize(1);
        if (torchProblem is not null)
        {
            Console.WriteLine($"agree: libtorch could not be loaded: {torchProblem}");
            return 1;
        }

        Console.WriteLine($"agree: seed {seed}, {(only is int o ? $"case {o} only" : $"{cases} cases")}, torch {TorchReference.Version}");
        var clock = Stopwatch.StartNew();
        int run = 0, passed = 0, failed = 0;
        IEnumerable<int> indices = only is int one ? [one] : Enumerable.Range(0, cases);
        foreach (int index in indices)
        {
            var c = AgreeCase.Draw(seed, index);
            run++;
            var verdict = Check(c, verbose || only is not null);
            if (verdict is null)
            {
                passed++;
                if (verbose)
                {
                    Console.WriteLine($"ok   seed={seed} case={index} {c.Describe()}");
                }
            }
            else
            {
                failed++;
                Console.WriteLine($"FAIL seed={seed} case={index} {c.Describe()}: {verdict}");
                if (minimize)
                {
                    var small = Minimizer.Minimize(c, candidate => Check(candidate, dump: false) is not null);
                    Console.WriteLine($"  minimized: {small.Describe()}: {Check(small, dump: false)}");
                    if (small.Positions == 1 && small.C > 1)
                    {
                        // Class order must not matter; when moving the row's largest logit to class 0 makes it pass,
                        // the error comes from the reference the exps are taken against.
                        int argmax = Array.IndexOf(small.Input, small.Input.Max());
                        bool swappedPasses = argmax > 0 && Check(Minimizer.SwapClasses(small, argmax), dump: false) is null;
                        Console.WriteLine(swappedPasses
                            ? $"  passes with classes 0 and {argmax} (its largest logit) swapped: the order of the classes matters"
                            : "  still fails (or cannot) with the largest logit moved to class 0");
                    }

                    Dump(small, XentSide.Run(small), TorchSide.Run(small, TorchSide.ScalarTypeOf(small.Dtype)),
                        TorchSide.Run(small, ScalarType.Float64), indent: "    ");
                }
            }
        }

        // Invalid problems: a few per run (one per 50 cases, at least 3), unless a single case was asked for.
        int invalidRun = 0, invalidFailed = 0, known = 0;
        int invalidCount = only is null ? Math.Max(3, cases / 50) : 0;
        for (int index = 0; index < invalidCount; index++)
        {
            var c = AgreeCase.DrawInvalid(seed, index);
            invalidRun++;
            var x = XentSide.Run(c);
            var t = TorchSide.Run(c, TorchSide.ScalarTypeOf(c.Dtype));
            bool ok = x.Error is not null && t.Error is not null;
            bool knownDifference = !ok && c.KnownDifference is not null && x.Error is not null;
            if (knownDifference)
            {
                known++;
            }
            else if (!ok)
            {
                invalidFailed++;
            }

            Console.WriteLine($"{(ok ? "rejected" : knownDifference ? "known   " : "FAIL    ")} seed={seed} invalid={index} {c.Describe()}");
            if (knownDifference)
            {
                Console.WriteLine($"    known difference: {c.KnownDifference}");
            }

            Console.WriteLine($"    xent:  {x.Error ?? "accepted (loss " + Show(x.Loss) + ")"}");
            Console.WriteLine($"    torch: {t.Error ?? "accepted (loss " + Show(t.Loss) + ")"}");
        }

        Console.WriteLine(Invariant($"agree seed {seed}: {run} cases run, {passed} passed, {failed} failed; {invalidRun} invalid cases, {invalidRun - invalidFailed - known} rejected by both, {known} known differences, {invalidFailed} failed; {clock.Elapsed.TotalSeconds:0.0} s"));
        return failed == 0 && invalidFailed == 0 ? 0 : 1;
    }

    /// <summary>Runs both sides on a valid case; null when they agree, else what differs.</summary>
    private static string? Check(AgreeCase c, bool dump)
    {
        var xent = XentSide.Run(c);
        var low = TorchSide.Run(c, TorchSide.ScalarTypeOf(c.Dtype));
        var truth = TorchSide.Run(c, ScalarType.Float64);
        if (dump)
        {
            Dump(c, xent, low, truth);
        }

        if (truth.Error is not null)
        {
            return xent.Error is null
                ? $"libtorch float64 rejects it ({truth.Error}) but Xent accepts it"
                : null; // both reject: nothing to compare (should not happen for a valid draw; it is shown in --verbose)
        }

        if (xent.Error is not null)
        {
            return $"Xent rejects it ({xent.Error}); libtorch computes loss {Show(truth.Loss)}";
        }

        // libtorch in the case's type may not support something (it is then held to the float64 truth alone).
        double[]? lowLoss = low.Error is null ? low.Loss : null;
        double[]? lowGrad = low.Error is null ? low.Grad : null;
        if (xent.Loss.Length != truth.Loss.Length || xent.Grad.Length != truth.Grad.Length)
        {
            return $"lengths differ: Xent loss {xent.Loss.Length} grad {xent.Grad.Length}, libtorch loss {truth.Loss.Length} grad {truth.Grad.Length}";
        }

        if (IgnoredNotZero(c, xent, truth, low) is string leak)
        {
            return leak;
        }

        var (lossMag, gradMag) = Magnitudes(c);
        // The loss may carry a few epsilons of everything it sums; a gradient element is p_c times a coefficient (less
        // the target's share), and libtorch gets p_c to an ulp or two, so it may carry a few epsilons of its own size and
        // only about one of the row's largest coefficient (the cancellation in p_t - 1).
        long positions = c.Positions;
        string RowOfPosition(long p) => c.Reduction == Reduction.None || positions == 1 ? RowNote(c, p) : "";
        var lossResult = Compare(c.Dtype, xent.Loss, truth.Loss, lowLoss, lossMag, 8, 8, i => RowOfPosition(i));
        var gradResult = Compare(c.Dtype, xent.Grad, truth.Grad, lowGrad, gradMag, 6, 2,
            i => RowNote(c, i / ((long)c.C * c.Inner) * c.Inner + (i % c.Inner)));
        if (lossResult.Bad is null && gradResult.Bad is null)
        {
            return null;
        }

        return $"loss {lossResult}; grad {gradResult}{(low.Error is null ? "" : $" (libtorch {c.Dtype} rejected: {low.Error})")}";
    }

    /// <summary>An ignored position contributes nothing in Xent, ever: its loss (per position) and its gradient must be
    /// exactly 0, even where its logits are NaN or infinite and libtorch's CPU backward leaks a NaN into that row. Null when
    /// they are; the ignored positions of both libtorch results are then set to 0 so that only the rest is compared.</summary>
    private static string? IgnoredNotZero(AgreeCase c, Outcome xent, Outcome truth, Outcome low)
    {
        if (c.Kind == LossKind.CeProb)
        {
            return null;
        }

        long inner = c.Inner;
        for (long p = 0; p < c.Positions; p++)
        {
            if (c.Target[p] != c.IgnoreIndex)
            {
                continue;
            }

            if (c.Reduction == Reduction.None)
            {
                if (xent.Loss[p] != 0)
                {
                    return Invariant($"ignored position {p}: Xent's loss is {xent.Loss[p]:R}, not 0");
                }

                truth.Loss[p] = 0;
                if (low.Error is null)
                {
                    low.Loss[p] = 0;
                }
            }

            long n = p / inner, k = p % inner;
            for (long cls = 0; cls < c.C; cls++)
            {
                long i = (n * c.C + cls) * inner + k;
                if (xent.Grad[i] != 0)
                {
                    return Invariant($"ignored position {p}: Xent's gradient at class {cls} is {xent.Grad[i]:R}, not 0");
                }

                truth.Grad[i] = 0;
                if (low.Error is null)
                {
                    low.Grad[i] = 0;
                }
            }
        }

        return null;
    }

    private sealed record Comparison(double MaxAbs, double MaxRel, double LowMaxAbs, string? Bad)
    {
        public override string ToString() =>
            Invariant($"maxabs={MaxAbs:G3} maxrel={MaxRel:G3} (libtorch-same-type maxabs={LowMaxAbs:G3}){(Bad is null ? "" : " FIRST BAD " + Bad)}");
    }

    /// <summary>The row of a position: where its largest logit lies against its class-0 logit.</summary>
    private static string RowNote(AgreeCase c, long p)
    {
        long n = p / c.Inner, k = p % c.Inner;
        double first = c.Input[n * c.C * c.Inner + k], max = double.NegativeInfinity;
        for (int cls = 0; cls < c.C; cls++)
        {
            max = Math.Max(max, c.Input[(n * c.C + cls) * c.Inner + k]);
        }

        return Invariant($" row {p}: max-x[class 0]={max - first:G4}");
    }

    private static Comparison Compare(ElementType dtype, double[] xent, double[] truth, double[]? low, double[] magnitude,
        double relK, double magK, Func<int, string> where)
    {
        double maxAbs = 0, maxRel = 0, lowMaxAbs = 0;
        string? bad = null;
        for (int i = 0; i < truth.Length; i++)
        {
            double x = xent[i], t = truth[i], l = low?[i] ?? t;
            // Equals: NaN equals NaN. A truth beyond the type's range rounds to its infinity (a float16 sum past 65504).
            bool same = x.Equals(t) || x.Equals(AgreeCase.Round(dtype, t)) || (low is not null && x.Equals(l));
            double err = Math.Abs(x - t), lowErr = Math.Abs(l - t);
            if (!double.IsNaN(err) && !double.IsInfinity(err))
            {
                maxAbs = Math.Max(maxAbs, err);
                maxRel = Math.Max(maxRel, err / Math.Max(Math.Abs(t), double.Epsilon));
            }

            if (!double.IsNaN(lowErr) && !double.IsInfinity(lowErr))
            {
                lowMaxAbs = Math.Max(lowMaxAbs, lowErr);
            }

            if (same)
            {
                continue;
            }

            bool ok;
            if (double.IsNaN(x) || double.IsNaN(t) || double.IsInfinity(x) || double.IsInfinity(t))
            {
                ok = false; // a NaN or an infinity must match exactly (the truth's, or libtorch's in the same type)
            }
            else
            {
                double tolerance = dtype switch
                {
                    ElementType.F64 => 1e-12 * (Math.Abs(t) + magnitude[i]),
                    ElementType.F32 => Eps32 * ((relK * Math.Abs(t)) + (magK * magnitude[i])),
                    // Computed in float32, rounded once: half an ulp of the type for the rounding, plus float32 work.
                    _ => 2 * AgreeCase.Ulp(dtype, t) + 8 * Eps32 * (Math.Abs(t) + magnitude[i]),
                };
                ok = err <= 2 * (double.IsNaN(lowErr) ? 0 : lowErr) + tolerance;
            }

            if (!ok && bad is null)
            {
                bad = Invariant($"[{i}] xent={x:R} torch64={t:R} torch-{dtype}={(low is null ? "n/a" : l.ToString("R", CultureInfo.InvariantCulture))} mag={magnitude[i]:G3}{where(i)}");
            }
        }

        return new Comparison(maxAbs, maxRel, lowMaxAbs, bad);
    }

    /// <summary>For each output element, the size of what it is computed from (the scale of rounding errors that may
    /// honestly build up in it): per position, Σ |coefficient · log p_c| plus the coefficients (for NLL, w_t·(|x_t| + 1));
    /// summed over the positions for the reductions and divided by the total weight for the mean. For the gradient, per
    /// element: the upstream gradient times the weight that applies (over the mean's divisor).</summary>
    private static (double[] Loss, double[] Grad) Magnitudes(AgreeCase c)
    {
        int classes = c.C;
        long inner = c.Inner, positions = c.Positions;
        double[] posMag = new double[positions];
        double[] posCoef = new double[positions];
        double totalWeight = 0;
        double W(long cls) => c.Weight?[cls] ?? 1.0;
        double wMax = c.Weight?.Max() ?? 1.0;
        for (long p = 0; p < positions; p++)
        {
            long n = p / inner, k = p % inner;
            // The position's log-probabilities in float64: libtorch's float32 log_softmax, (x - max) - log Σ exp(x - max),
            // gets each to a few ulps of its own size (x - max is exact for nearby logits), so the loss may carry a few
            // epsilons of Σ |coefficient · log p| (+ the coefficients, for log s ≈ 0), not of the logits' size.
            double max = double.NegativeInfinity, sum = 0;
            for (int cls = 0; cls < classes; cls++)
            {
                max = Math.Max(max, c.Input[(n * classes + cls) * inner + k]);
            }

            for (int cls = 0; cls < classes; cls++)
            {
                sum += Math.Exp(c.Input[(n * classes + cls) * inner + k] - max);
            }

            double logSum = Math.Log(sum);
            double AbsLogP(long cls)
            {
                double v = Math.Abs(c.Kind == LossKind.Nll ? c.Input[(n * classes + cls) * inner + k] : c.Input[(n * classes + cls) * inner + k] - max - logSum);
                return double.IsFinite(v) ? v : 0;
            }

            double coef, terms = 0;
            if (c.Kind == LossKind.CeProb)
            {
                coef = 0;
                for (int cls = 0; cls < classes; cls++)
                {
                    double t = c.Probabilities[(n * classes + cls) * inner + k];
                    double u = W(cls) * Math.Abs((t * (1 - c.LabelSmoothing)) + (c.LabelSmoothing / classes));
                    coef += u;
                    terms += u * AbsLogP(cls);
                }

                coef *= 2;
                totalWeight += 1;
            }
            else
            {
                long t = c.Target[p];
                if (t == c.IgnoreIndex)
                {
                    coef = 0;
                }
                else
                {
                    coef = W(t) + (2 * c.LabelSmoothing * wMax);
                    terms = W(t) * AbsLogP(t);
                    for (int cls = 0; cls < classes && c.LabelSmoothing != 0; cls++)
                    {
                        terms += c.LabelSmoothing / classes * W(cls) * AbsLogP(cls);
                    }

                    totalWeight += W(t);
                }
            }

            posCoef[p] = coef;
            posMag[p] = coef + terms;
        }

        double divisor = c.Reduction == Reduction.Mean ? totalWeight : 1;
        double[] loss = c.Reduction == Reduction.None
            ? posMag
            : [posMag.Sum() / divisor];
        double[] grad = new double[c.Input.Length];
        for (long p = 0; p < positions; p++)
        {
            long n = p / inner, k = p % inner;
            double g = Math.Abs(c.GradOutput[c.Reduction == Reduction.None ? p : 0]) * posCoef[p] / divisor;
            for (int cls = 0; cls < classes; cls++)
            {
                grad[(n * classes + cls) * inner + k] = g;
            }
        }

        return (loss, grad);
    }

    private static void Dump(AgreeCase c, Outcome xent, Outcome low, Outcome truth, string indent = "  ")
    {
        Console.WriteLine($"{indent[2..]}case {c.Index}: {c.Describe()}");
        Console.WriteLine($"{indent}input {Show(c.Input)}");
        if (c.Kind == LossKind.CeProb)
        {
            Console.WriteLine($"{indent}probabilities {Show(c.Probabilities)}");
        }
        else
        {
            Console.WriteLine($"{indent}target ({string.Join(",", c.TargetShape)}) {Show(c.Target.Select(t => (double)t).ToArray())}");
        }

        if (c.Weight is not null)
        {
            Console.WriteLine($"{indent}weight {Show(c.Weight)}");
        }

        Console.WriteLine($"{indent}gradOutput {Show(c.GradOutput)}");
        foreach (var (name, o) in new[] { ("xent", xent), ($"torch-{c.Dtype}", low), ("torch-f64", truth) })
        {
            Console.WriteLine(o.Error is null
                ? $"{indent}{name,-10} loss {Show(o.Loss)}\n{indent}{"",-10} grad {Show(o.Grad)}"
                : $"{indent}{name,-10} rejected: {o.Error}");
        }
    }

    private static string Show(double[] values, int max = 24)
    {
        string body = string.Join(", ", values.Take(max).Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        return values.Length > max ? $"[{body}, ... ({values.Length})]" : $"[{body}]";
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
