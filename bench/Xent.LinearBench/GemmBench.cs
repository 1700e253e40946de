using System.Diagnostics;
using System.Runtime.InteropServices;
using Xent;
using Xent.Kernels;

namespace Xent.LinearBench;

/// <summary>GFLOP/s of the managed GEMM on the three products of a linear layer, and a sweep of its blocking.</summary>
internal static unsafe class GemmBench
{
    public static void Run(string[] args)
    {
        bool tune = args.Contains("--tune");
        var shapes = new (string Name, int M, int N, int K, bool TransA, bool TransB, bool Acc)[]
        {
            ("logits H·Wᵀ 256×32000×512", 256, 32000, 512, false, true, false),
            ("gradH  G·W  256×512×32000", 256, 512, 32000, false, false, false),
            ("gradW += Gᵀ·H 32000×512×256", 32000, 512, 256, true, false, true),
            ("square 2048³", 2048, 2048, 2048, false, false, false),
            ("logits 256×128256×1024", 256, 128256, 1024, false, true, false),
            ("gradH 256×1024×128256", 256, 1024, 128256, false, false, false),
            ("gradW += 128256×1024×256", 128256, 1024, 256, true, false, true),
        };
        if (args.Contains("--large")) shapes = shapes[4..];
        else shapes = shapes[..4];

        Console.WriteLine($"threads {Parallelism.MaxDegreeOfParallelism}, kernel {GemmMicroKernels.Best}, blocking {GemmBlocking.Default}");
        if (args.Contains("--ab"))
        {
            // Interleaved A/B of a few blockings, medians of per-CPU-second rates: robust to a shared machine.
            var candidates = new[] { new GemmBlocking(256, 512, 480), new GemmBlocking(512, 512, 480), new GemmBlocking(512, 256, 480), new GemmBlocking(384, 512, 480) };
            var rates = candidates.Select(_ => shapes.Take(3).Select(_ => new List<double>()).ToArray()).ToArray();
            for (int round = 0; round < 7; round++)
            {
                for (int c = 0; c < candidates.Length; c++)
                {
                    for (int i = 0; i < 3; i++)
                    {
                        var s = shapes[i];
                        Measure(s.M, s.N, s.K, s.TransA, s.TransB, s.Acc, 2, candidates[c]);
                        rates[c][i].Add(LastPerCoreSecond);
                    }
                }
            }

            for (int c = 0; c < candidates.Length; c++)
            {
                Console.WriteLine($"{candidates[c]}: " + string.Join("  ", rates[c].Select(r => $"{r.OrderBy(x => x).ElementAt(r.Count / 2):F1}")) + " GFLOP per CPU-second (median of 7)");
            }

            return;
        }

        if (tune)
        {
            foreach (int kc in new[] { 128, 256, 384, 512 })
            foreach (int nb in new[] { 256, 512, 1024 })
            foreach (int mb in new[] { 240, 480, 960 })
            {
                var blocking = new GemmBlocking(kc, nb, mb);
                var line = new List<string>();
                foreach (var s in shapes.Take(3))
                {
                    Measure(s.M, s.N, s.K, s.TransA, s.TransB, s.Acc, 3, blocking);
                    line.Add($"{LastPerCoreSecond:F1}");
                }

                Console.WriteLine($"kc {kc,4} nb {nb,5} mb {mb,4}: {string.Join("  ", line)} GFLOP per CPU-second");
            }

            return;
        }

        foreach (var s in shapes)
        {
            double gf = Measure(s.M, s.N, s.K, s.TransA, s.TransB, s.Acc, 5);
            Console.WriteLine($"{s.Name,-32} {gf,7:F1} GFLOP/s wall, {LastPerCoreSecond,6:F1} GFLOP per CPU-second");
        }
    }

    /// <summary>GFLOP per CPU-second of the last <see cref="Measure"/>: robust to other processes on the cores.</summary>
    public static double LastPerCoreSecond;

    public static double Measure(int m, int n, int k, bool transA, bool transB, bool acc, int reps, GemmBlocking? blocking = null)
    {
        long aLen = (long)m * k, bLen = (long)k * n, cLen = (long)m * n;
        float* a = Alloc(aLen), b = Alloc(bLen), c = Alloc(cLen);
        try
        {
            using var ws = new GemmWorkspace();
            nint lda = transA ? m : k, ldb = transB ? k : n;
            Gemm.Multiply(m, n, k, a, lda, transA, b, ldb, transB, c, n, acc, ws, blocking);
            double best = double.MaxValue, bestCpu = double.MaxValue;
            using var process = Process.GetCurrentProcess();
            for (int r = 0; r < reps; r++)
            {
                process.Refresh();
                TimeSpan cpu0 = process.TotalProcessorTime;
                long t0 = Stopwatch.GetTimestamp();
                Gemm.Multiply(m, n, k, a, lda, transA, b, ldb, transB, c, n, acc, ws, blocking);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                process.Refresh();
                bestCpu = Math.Min(bestCpu, (process.TotalProcessorTime - cpu0).TotalSeconds);
            }

            LastPerCoreSecond = 2.0 * m * n * k / bestCpu / 1e9;
            return 2.0 * m * n * k / best / 1e9;
        }
        finally
        {
            NativeMemory.AlignedFree(a);
            NativeMemory.AlignedFree(b);
            NativeMemory.AlignedFree(c);
        }
    }

    private static float* Alloc(long count)
    {
        float* p = (float*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(float)), 64);
        var rng = new Random(1);
        for (long i = 0; i < count; i++) p[i] = (float)(rng.NextDouble() - 0.5);
        return p;
    }
}
