using System.Diagnostics;
using System.Globalization;
using ScottPlot;

namespace Xent.Bench.Compare;

/// <summary>
/// <c>plot [--quick] [--out PATH]</c>: throughput (logits bytes / time, GB/s) against the logits' size for fp32
/// cross-entropy at C = 32000, N = 16 … 4096: Xent forward and forward+backward, libtorch forward+backward, the copy
/// and read floors. Prints the numbers and writes a PNG (ScottPlot, headless through SkiaSharp's Linux natives).
/// </summary>
internal static class PlotCommand
{
    private const int Classes = 32000;

    public static int Run(string[] args)
    {
        bool quick = false;
        string output = "throughput.png";
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--quick")
            {
                quick = true;
            }
            else if (args[i] == "--out" && i + 1 < args.Length)
            {
                output = args[++i];
            }
            else
            {
                Console.Error.WriteLine($"plot: unknown argument '{args[i]}' (expected --quick, --out PATH)");
                return 2;
            }
        }

        var clock = Stopwatch.StartNew();
        int threads = Environment.ProcessorCount;
        int[] batches = quick ? [16, 64, 256, 512] : [16, 64, 256, 1024, 4096];
        var budget = TimeSpan.FromSeconds(quick ? 0.15 : 2.0);
        var load = new LoadSampler();
        load.Sample();
        string? torchProblem = TorchReference.TryInitialize(threads);
        Console.WriteLine(torchProblem is null
            ? $"libtorch: loaded, torch {TorchReference.Version}, {threads} threads"
            : $"libtorch: NOT LOADED, plotting Xent and the floors only. {torchProblem}");

        var points = new List<Point>();
        foreach (int batch in batches)
        {
            var @case = new Case(Nll: false, batch, Classes);
            var problem = @case.CreateProblem();
            var xent = XentRunner.Create(@case, problem);
            if (points.Count == 0)
            {
                // Tiering: promote the entry point before the first timed size (see CompareCommand.WarmUpJit).
                for (int i = 0; i < 35; i++)
                {
                    xent.Run(backward: false);
                    xent.Run(backward: true);
                }

                Thread.Sleep(300);
            }

            nint source = xent.InputAddress, destination = xent.ScratchAddress;
            long bytes = problem.Bytes;
            var rounds = MedianTimer.Interleaved(
            [
                () => CopyFloor.Copy(source, destination, bytes),
                () => CopyFloor.Read(source, bytes),
                () => xent.Run(backward: false),
                () => xent.Run(backward: true),
            ], budget, minRounds: 9, maxRounds: 41);
            double[] ms = [rounds.Median(0), rounds.Median(1), rounds.Median(2), rounds.Median(3)];
            double? torchMs = null;
            if (torchProblem is null)
            {
                using var torch = new TorchReference(@case, problem);
                torchMs = MedianTimer.Measure(() => torch.ForwardBackward(), budget).Ms;
            }

            points.Add(new Point(problem.MegaBytes, Gbs(bytes, ms[0]), Gbs(bytes, ms[1]), Gbs(bytes, ms[2]), Gbs(bytes, ms[3]),
                torchMs is { } t ? Gbs(bytes, t) : null));
            load.Sample();
            Console.Error.Write('.');
        }

        Console.Error.WriteLine();
        Console.WriteLine("GB/s = logits bytes / time (for the copy: bytes copied / time; its traffic is twice that)");
        Console.WriteLine("| N | MB | copy | read | Xent fwd | Xent fwd+bwd | libtorch fwd+bwd |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        for (int i = 0; i < points.Count; i++)
        {
            var p = points[i];
            Console.WriteLine(Invariant($"| {batches[i]} | {p.MegaBytes:0.0} | {p.Copy:0.0} | {p.Read:0.0} | {p.Forward:0.0} | {p.ForwardBackward:0.0} | {(p.Torch is { } t ? t.ToString("0.00", CultureInfo.InvariantCulture) : "-")} |"));
        }

        Write(points, output, load.Summary);
        Console.WriteLine(Invariant($"wrote {Path.GetFullPath(output)}; load average (1 min) during the run: {load.Summary}; total {clock.Elapsed.TotalSeconds:0.0} s"));
        return 0;
    }

    private static double Gbs(long bytes, double ms) => CopyFloor.GigabytesPerSecond(bytes, ms);

    private static void Write(List<Point> points, string path, string load)
    {
        var plot = new Plot();
        double[] xs = points.Select(p => Math.Log10(p.MegaBytes)).ToArray();

        void Line(IEnumerable<double> ys, string label, Color color, bool dashed = false)
        {
            var scatter = plot.Add.Scatter(xs, ys.ToArray(), color);
            scatter.LegendText = label;
            scatter.LineWidth = 2;
            scatter.MarkerSize = 7;
            if (dashed)
            {
                scatter.LinePattern = LinePattern.Dashed;
            }
        }

        Line(points.Select(p => p.Copy), "copy floor (all cores)", Colors.Black);
        Line(points.Select(p => p.Read), "read floor (all cores)", Colors.Gray, dashed: true);
        Line(points.Select(p => p.ForwardBackward), "Xent fwd+bwd", Colors.Blue);
        Line(points.Select(p => p.Forward), "Xent fwd", Colors.CornflowerBlue, dashed: true);
        if (points.All(p => p.Torch is not null))
        {
            Line(points.Select(p => p.Torch!.Value), "libtorch fwd+bwd", Colors.OrangeRed);
        }

        // The last-level cache: buffers left of it can be served from L3, so the floors there are not DRAM's.
        var l3 = plot.Add.VerticalLine(Math.Log10(32 * 1.048576), 1, Colors.Green, LinePattern.Dotted);
        l3.LegendText = "L3 = 32 MiB";

        // A log axis drawn as log10 values with labels at 1-2-5 steps (ScottPlot 5 has no native log scale).
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (double decade in new[] { 0.1, 1, 10, 100, 1000, 10000 })
        {
            foreach (double step in new[] { 1.0, 2, 5 })
            {
                double mb = decade * step;
                if (mb >= points[0].MegaBytes / 2 && mb <= points[^1].MegaBytes * 2)
                {
                    ticks.AddMajor(Math.Log10(mb), mb.ToString("0.###", CultureInfo.InvariantCulture));
                }
            }
        }

        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.Label.Text = "logits size, MB (log scale)";
        plot.Axes.Left.Label.Text = "throughput, GB/s (logits bytes / time)";
        plot.Axes.Title.Label.Text = $"fp32 cross-entropy, C = 32000, N = {string.Join(", ", points.Select(p => (int)Math.Round(p.MegaBytes * 1e6 / 4 / Classes)))}; " +
            $"{Environment.ProcessorCount} cores\nload average (1 min) during the run: {load}";
        plot.Axes.Title.Label.FontSize = 14;
        plot.Axes.SetLimitsY(0, points.Max(p => Math.Max(Math.Max(p.Copy, p.Read), p.Forward)) * 1.1);
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, 900, 560);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private sealed record Point(double MegaBytes, double Copy, double Read, double Forward, double ForwardBackward, double? Torch);
}
