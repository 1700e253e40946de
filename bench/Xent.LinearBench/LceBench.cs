using System.Diagnostics;
using System.Runtime.InteropServices;
using Xent;
using Xent.Kernels;

namespace Xent.LinearBench;

/// <summary>Time, GFLOP/s and extra peak memory of <see cref="Functional.LinearCrossEntropy(ReadOnlySpan{float}, ReadOnlySpan{float}, int, ReadOnlySpan{long}, Span{float}, Span{float}, Reduction, long, float)"/>,
/// beside the unfused composition on the same GEMM (logits materialized) and, when built with -p:WithTorch=true,
/// libtorch's matmul + cross_entropy.</summary>
internal static unsafe class LceBench
{
    public static void Run(string[] args)
    {
        int n = Arg(args, "--n", 2048), h = Arg(args, "--h", 512), v = Arg(args, "--v", 32000);
        int reps = Arg(args, "--reps", 3), chunk = Arg(args, "--chunk", 0);
        bool baseline = args.Contains("--baseline"), torch = !args.Contains("--no-torch"), backwardOnly = args.Contains("--no-forward");
        double logitsMb = 4.0 * n * v / 1e6;
        double fwdBwdFlop = 6.0 * n * v * h, fwdFlop = 2.0 * n * v * h;
        Console.WriteLine($"N {n}, hidden {h}, vocab {v}, fp32, {Parallelism.MaxDegreeOfParallelism} threads; logits would be {logitsMb:F0} MB" +
                          (args.Contains("--filter") ? "; gradient filtering on" : ""));

        var rng = new Random(1);
        float[] hidden = RandomArray(rng, (long)n * h, 1f);
        // --wscale: the weight's spread. 0.05 gives diffuse softmaxes (logit std ≈ 0.65); 1 gives peaked ones (std ≈ 13)
        // where most probabilities are below 2⁻²⁴, the case --filter (gradient filtering) is for.
        float wscale = Arg(args, "--wscale-milli", 50) / 1000f;
        float[] weight = RandomArray(rng, (long)v * h, wscale);
        long[] target = new long[n];
        for (int i = 0; i < n; i++) target[i] = i % 31 == 0 ? -100 : rng.Next(v);
        float[] gradHidden = new float[(long)n * h];
        float[] gradWeight = new float[(long)v * h];
        Touch(gradHidden);
        Touch(gradWeight);
        var options = new LinearCrossEntropyOptions { ChunkRows = chunk, FilterGradients = args.Contains("--filter") };

        // JIT every path on a small problem first, so the measured call's memory is the call's own.
        Warm();
        (double peakWall, double peakCore) = PeakBench.Measure(1);
        CorePeak = peakCore;
        Console.WriteLine($"FMA-loop peak: {peakCore:F1} GFLOP per CPU-second ({peakWall:F1} GFLOP/s wall on 1 thread); " +
                          $"machine peak taken as {Environment.ProcessorCount} × {peakCore:F1} = {Environment.ProcessorCount * peakCore:F0} GFLOP/s");
        double peakAll = Environment.ProcessorCount * peakCore;

        (long rssDelta, long gcDelta, double firstSeconds) = Memory(() => Call(hidden, weight, h, target, gradHidden, gradWeight, options));
        Console.WriteLine($"fused fwd+bwd, first call: {firstSeconds * 1e3:F0} ms; extra peak RSS {rssDelta / 1e6:F1} MB " +
                          $"({100.0 * rssDelta / (4.0 * n * v):F1}% of the logits), GC allocations {gcDelta / 1e3:F1} KB");
        var fused = Times(reps, () => Call(hidden, weight, h, target, gradHidden, gradWeight, options));
        Report("fused fwd+bwd", fused, fwdBwdFlop, peakAll);
        if (!backwardOnly)
        {
            var forward = Times(reps, () => Call(hidden, weight, h, target, default, default, options));
            Report("fused forward", forward, fwdFlop, peakAll);
        }

        if (baseline)
        {
            (rssDelta, _, firstSeconds) = Memory(() => Unfused(hidden, weight, h, target, gradHidden, gradWeight, n, v));
            Console.WriteLine($"unfused (logits + CrossEntropy + 2 GEMMs, same GEMM), first call: {firstSeconds * 1e3:F0} ms; extra peak RSS {rssDelta / 1e6:F1} MB");
            var unfused = Times(reps, () => Unfused(hidden, weight, h, target, gradHidden, gradWeight, n, v));
            Report("unfused fwd+bwd", unfused, fwdBwdFlop, peakAll);
            Console.WriteLine($"fused / unfused time: {fused.Median / unfused.Median:F3}");
        }

#if WITH_TORCH
        if (torch)
        {
            // The gradients of the fused call (the unfused baseline overwrote them) for the agreement check.
            float fusedLoss = Call(hidden, weight, h, target, gradHidden, gradWeight, options);
            TorchBench.Run(hidden, weight, h, target, n, v, reps, fused.Median, fwdBwdFlop, fusedLoss, gradHidden, gradWeight);
        }
#else
        _ = torch;
        Console.WriteLine("libtorch: not built in (dotnet build -c Release -p:WithTorch=true to compare)");
#endif
    }

    private static void Warm()
    {
        var rng = new Random(2);
        float[] hd = RandomArray(rng, 64 * 48, 1f), w = RandomArray(rng, 1000 * 48, 0.1f);
        long[] t = [.. Enumerable.Range(0, 64).Select(i => (long)(i * 7 % 1000))];
        for (int i = 0; i < 3; i++)
        {
            Call(hd, w, 48, t, new float[hd.Length], new float[w.Length], new LinearCrossEntropyOptions { ChunkRows = 16 });
            Call(hd, w, 48, t, default, default, LinearCrossEntropyOptions.Default);
        }
    }

    private static float Call(float[] hidden, float[] weight, int h, long[] target, float[]? gh, float[]? gw, LinearCrossEntropyOptions o) =>
        Functional.LinearCrossEntropy<float, long>(hidden, weight, default, h, target,
            new LinearCrossEntropyOutputs { GradHidden = gh, GradWeight = gw }, o).Loss;

    /// <summary>The textbook composition with the logits materialized: logits = H·Wᵀ, CrossEntropy with its gradient
    /// (N × V more), then gradH = G·W and gradW = Gᵀ·H — the same GEMM, so the ratio isolates the fusion.</summary>
    private static float Unfused(float[] hidden, float[] weight, int h, long[] target, float[] gh, float[] gw, int n, int v)
    {
        float* logits = (float*)NativeMemory.AlignedAlloc((nuint)((long)n * v * 4), 64);
        float* grad = (float*)NativeMemory.AlignedAlloc((nuint)((long)n * v * 4), 64);
        try
        {
            using var ws = new GemmWorkspace();
            fixed (float* ph = hidden, pw = weight, pgh = gh, pgw = gw)
            {
                Gemm.Multiply(n, v, h, ph, h, false, pw, h, true, logits, v, false, ws);
                float loss = Functional.CrossEntropy(new ReadOnlySpan<float>(logits, n * v), v, target, new Span<float>(grad, n * v));
                Gemm.Multiply(n, h, v, grad, v, false, pw, h, false, pgh, h, false, ws);
                Gemm.Multiply(v, h, n, grad, v, true, ph, h, false, pgw, h, false, ws);
                return loss;
            }
        }
        finally
        {
            NativeMemory.AlignedFree(logits);
            NativeMemory.AlignedFree(grad);
        }
    }

    /// <summary>Wall time (best, median) and the process's CPU time of the best run: on a shared machine the wall
    /// time includes waiting for a core, the CPU time only the work.</summary>
    public static (double Best, double Median, double Cpu) Times(int reps, Func<float> call)
    {
        var t = new List<(double Wall, double Cpu)>();
        using var process = Process.GetCurrentProcess();
        for (int r = 0; r < reps; r++)
        {
            process.Refresh();
            TimeSpan cpu0 = process.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            call();
            double wall = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            process.Refresh();
            t.Add((wall, (process.TotalProcessorTime - cpu0).TotalSeconds));
        }

        t.Sort();
        return (t[0].Wall, t[t.Count / 2].Wall, t.Min(x => x.Cpu));
    }

    public static void Report(string what, (double Best, double Median, double Cpu) t, double flop, double peak) =>
        Console.WriteLine($"{what,-16} best {t.Best * 1e3,7:F0} ms, median {t.Median * 1e3,7:F0} ms; " +
                          $"{flop / t.Best / 1e9,6:F1} GFLOP/s at best ({100 * flop / t.Best / 1e9 / peak:F0}% of {peak:F0}); " +
                          $"CPU {t.Cpu * 1e3:F0} ms = {flop / t.Cpu / 1e9:F1} GFLOP per core-second ({100 * flop / t.Cpu / 1e9 / CorePeak:F0}% of {CorePeak:F0})");

    /// <summary>The FMA-loop peak per CPU-second measured at start-up: one 512-bit FMA (32 FLOP) per cycle at the
    /// clock the core actually ran (about 3.6 GHz boost here; /proc/cpuinfo shows only the 2.6 GHz base).</summary>
    public static double CorePeak = 115;

    /// <summary>Peak RSS growth during one call (VmHWM reset through /proc/self/clear_refs), GC allocations and time.</summary>
    public static (long Rss, long Gc, double Seconds) Memory(Func<float> call)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = Status("VmRSS:");
        File.WriteAllText("/proc/self/clear_refs", "5");
        long gc0 = GC.GetTotalAllocatedBytes(precise: true);
        long t0 = Stopwatch.GetTimestamp();
        call();
        double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        long gc = GC.GetTotalAllocatedBytes(precise: true) - gc0;
        return (Status("VmHWM:") - before, gc, s);
    }

    private static long Status(string key)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
            {
                return long.Parse(line[key.Length..].Trim().Split(' ')[0]) * 1024;
            }
        }

        return 0;
    }

    private static float[] RandomArray(Random rng, long count, float scale)
    {
        var x = new float[count];
        for (long i = 0; i < count; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return x;
    }

    private static void Touch(float[] x) => Array.Fill(x, 0f);

    public static int Arg(string[] args, string name, int fallback)
    {
        foreach (string a in args)
        {
            if (a.StartsWith(name + "=", StringComparison.Ordinal))
            {
                return int.Parse(a[(name.Length + 1)..]);
            }
        }

        return fallback;
    }
}
