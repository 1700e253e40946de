using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;

namespace Xent.Bench.Compare;

/// <summary>
/// <c>compare [--quick]</c>: in one process, the copy floor, Xent and libtorch on identical data, one table.
/// Every ratio in the table comes from numbers measured in this run, on this machine.
/// </summary>
internal static class CompareCommand
{
    public static int Run(string[] args)
    {
        bool quick = false;
        foreach (string arg in args)
        {
            if (arg == "--quick")
            {
                quick = true;
            }
            else
            {
                Console.Error.WriteLine($"compare: unknown argument '{arg}' (expected --quick)");
                return 2;
            }
        }

        var clock = Stopwatch.StartNew();
        var cases = quick ? Case.Quick : Case.Full;
        var budget = TimeSpan.FromSeconds(quick ? 0.15 : 1.0);
        int threads = Environment.ProcessorCount;

        string simd = Vector512.IsHardwareAccelerated ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : "Vector128 or less";
        Console.WriteLine(Invariant($"Xent compare{(quick ? " --quick" : "")}: {threads} cores, .NET {Environment.Version}, {simd}"));
        if (LoadAverage() is { } load)
        {
            // Other processes on a small machine change both the bandwidth and the kernel times; say so up front.
            Console.WriteLine(Invariant($"load average (1 min) {load:0.00} on {threads} cores{(load > threads / 2.0 ? ": CONTENDED, timings will be noisy" : "")}"));
        }

        string? torchProblem = TorchReference.TryInitialize(threads);
        Console.WriteLine(torchProblem is null
            ? $"libtorch: loaded, torch {TorchReference.Version}, {threads} threads"
            : $"libtorch: NOT LOADED, comparing Xent with the copy floor only. {torchProblem}");
        Console.WriteLine($"data: fp32 logits, mean reduction, one row in {Problem.IgnoreEvery} targets ignore_index {Problem.IgnoreIndex}; " +
            "times are medians of >= 3 runs after a warm-up run");
        WarmUpJit();

        var rows = new List<Row>();
        // Headline bandwidth from the largest buffer: a smaller one may sit in the last-level cache.
        long largest = cases.Max(c => (long)c.Rows * c.Classes);
        double bandwidth = 0;
        foreach (var @case in cases)
        {
            var problem = Problem.Create(@case.Rows, @case.Classes, @case.Weighted);
            var scratch = problem.NewBuffer();
            var xentGrad = problem.NewBuffer();

            double floor = MedianTimer.MedianMs(() => CopyFloor.Copy(problem.Input, scratch), budget);
            if (problem.Elements == largest)
            {
                bandwidth = CopyFloor.GigabytesPerSecond(problem.Elements * sizeof(float), floor);
            }

            float xentForwardLoss = 0, xentLoss = 0;
            double xentForward = MedianTimer.MedianMs(() => xentForwardLoss = Xent(@case, problem, []), budget);
            double xentBackward = MedianTimer.MedianMs(() => xentLoss = Xent(@case, problem, xentGrad), budget);

            var forward = new Row($"{@case.Name} fwd", problem.MegaBytes, floor, xentForward);
            var backward = new Row($"{@case.Name} fwd+bwd", problem.MegaBytes, floor, xentBackward);
            if (torchProblem is null)
            {
                using var torch = new TorchReference(@case, problem);
                float torchForwardLoss = 0;
                forward.TorchMs = MedianTimer.MedianMs(() => torchForwardLoss = torch.Forward(), budget);
                forward.LossDiff = Math.Abs((double)xentForwardLoss - torchForwardLoss);
                backward.TorchMs = MedianTimer.MedianMs(() => torch.ForwardBackward(), budget);

                // Agreement from one more untimed call that also copies libtorch's gradient out.
                float torchLoss = torch.ForwardBackward(scratch);
                backward.LossDiff = Math.Abs((double)xentLoss - torchLoss);
                backward.GradDiff = Agreement.MaxAbsDiff(xentGrad, scratch);
            }

            rows.Add(forward);
            rows.Add(backward);
            Console.Error.Write('.'); // progress on stderr, so stdout stays a clean report
        }

        Console.Error.WriteLine();
        Console.WriteLine(Invariant($"copy floor: {bandwidth:0.0} GB/s copied with {threads} threads ({2 * bandwidth:0.0} GB/s read+write), {largest * sizeof(float) / 1e6:0.0} MB buffer"));
        Console.WriteLine();
        Row.PrintTable(rows);
        Console.WriteLine();
        Console.WriteLine(Invariant($"xent/floor: Xent time over one copy of the logits (1.0 = bandwidth-bound). torch/xent > 1: Xent is faster. total {clock.Elapsed.TotalSeconds:0.0} s"));
        return 0;
    }

    private static float Xent(Case @case, Problem problem, Span<float> gradInput) => @case.Nll
        ? Functional.NllLoss(problem.Input, problem.Classes, problem.Target, gradInput, Reduction.Mean, problem.Weight, Problem.IgnoreIndex)
        : Functional.CrossEntropy(problem.Input, problem.Classes, problem.Target, gradInput, Reduction.Mean, problem.Weight, Problem.IgnoreIndex, @case.LabelSmoothing);

    /// <summary>
    /// Calls every Xent entry point enough times that tiered compilation promotes it before anything is timed:
    /// the call-count threshold is 30, then tier-1 compiles in the background after a 100 ms quiet period.
    /// 64 x 4096 (1 MB) is enough rows to split across cores and small enough to cost little.
    /// </summary>
    private static void WarmUpJit()
    {
        const int Rows = 64, Classes = 4096, Calls = 35;
        foreach (bool weighted in new[] { false, true })
        {
            var problem = Problem.Create(Rows, Classes, weighted);
            var grad = problem.NewBuffer();
            foreach (var @case in new Case[] { new(false, Rows, Classes, weighted), new(false, Rows, Classes, weighted, 0.1f), new(true, Rows, Classes, weighted) })
            {
                for (int i = 0; i < Calls; i++)
                {
                    Xent(@case, problem, []);
                    Xent(@case, problem, grad);
                }
            }
        }

        Thread.Sleep(300);
    }

    private static double? LoadAverage()
    {
        try
        {
            string text = File.ReadAllText("/proc/loadavg");
            return double.Parse(text.Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null; // not Linux, or no procfs: nothing to report
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private sealed class Row(string work, double megaBytes, double floorMs, double xentMs)
    {
        // null: not measured ("-"); NaN stays NaN, because a NaN disagreement must show.
        public double? TorchMs { get; set; }

        public double? LossDiff { get; set; }

        public double? GradDiff { get; set; }

        public static void PrintTable(IReadOnlyList<Row> rows)
        {
            string[] header = ["work", "size MB", "floor ms", "xent ms", "torch ms", "xent/floor", "torch/xent", "|loss diff|", "max|grad diff|"];
            var cells = new List<string[]> { header };
            foreach (var r in rows)
            {
                cells.Add(
                [
                    r.Work,
                    Format(r.MegaBytes, "0.0"),
                    Format(r.FloorMs, "0.00"),
                    Format(r.XentMs, "0.00"),
                    Format(r.TorchMs, "0.00"),
                    Format(r.XentMs / r.FloorMs, "0.00"),
                    Format(r.TorchMs / r.XentMs, "0.00"),
                    Format(r.LossDiff, "0.0e+0"),
                    Format(r.GradDiff, "0.0e+0"),
                ]);
            }

            int[] widths = Enumerable.Range(0, header.Length).Select(c => cells.Max(row => row[c].Length)).ToArray();
            foreach (var row in cells)
            {
                var line = row.Select((cell, c) => c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]));
                Console.WriteLine(string.Join("  ", line));
            }
        }

        public string Work { get; } = work;

        public double MegaBytes { get; } = megaBytes;

        public double FloorMs { get; } = floorMs;

        public double XentMs { get; } = xentMs;

        private static string Format(double? value, string format) =>
            value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
    }
}
