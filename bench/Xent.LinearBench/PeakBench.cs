using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Xent.LinearBench;

/// <summary>The machine's FMA peak measured, not assumed: 24 independent register-only Vector512 FMA chains
/// (no loads), so the loop is bound by FMA throughput alone. FLOP/s per core = 32 × (512-bit FMAs per cycle) × f.</summary>
internal static class PeakBench
{
    /// <summary>Best wall-clock GFLOP/s of the loop on <paramref name="threads"/> threads.</summary>
    public static double Run(int threads) => Measure(threads).Wall;

    /// <summary>Best wall-clock GFLOP/s and best GFLOP per CPU-second (the per-core peak at whatever clock the
    /// core ran, unaffected by waiting for a core on a shared machine).</summary>
    public static (double Wall, double PerCoreSecond) Measure(int threads)
    {
        const long iterations = 20_000_000;
        Loop(1000);
        double best = 0, bestCpu = 0;
        using var process = Process.GetCurrentProcess();
        for (int r = 0; r < 3; r++)
        {
            process.Refresh();
            TimeSpan cpu0 = process.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => Loop(iterations));
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            process.Refresh();
            double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
            double flop = threads * iterations * 24.0 * 32;
            best = Math.Max(best, flop / s / 1e9);
            bestCpu = Math.Max(bestCpu, flop / cpu / 1e9);
        }

        return (best, bestCpu);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static float Loop(long n)
    {
        Vector512<float> x = Vector512.Create(1.0000001f), y = Vector512.Create(0.9999999f);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector512<float> c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default, d4 = default, d5 = default;
        Vector512<float> d6 = default, d7 = default, d8 = default, d9 = default, d10 = default, d11 = default;
        for (long i = 0; i < n; i++)
        {
            c0 = Avx512F.FusedMultiplyAdd(x, y, c0); c1 = Avx512F.FusedMultiplyAdd(x, y, c1);
            c2 = Avx512F.FusedMultiplyAdd(x, y, c2); c3 = Avx512F.FusedMultiplyAdd(x, y, c3);
            c4 = Avx512F.FusedMultiplyAdd(x, y, c4); c5 = Avx512F.FusedMultiplyAdd(x, y, c5);
            c6 = Avx512F.FusedMultiplyAdd(x, y, c6); c7 = Avx512F.FusedMultiplyAdd(x, y, c7);
            c8 = Avx512F.FusedMultiplyAdd(x, y, c8); c9 = Avx512F.FusedMultiplyAdd(x, y, c9);
            c10 = Avx512F.FusedMultiplyAdd(x, y, c10); c11 = Avx512F.FusedMultiplyAdd(x, y, c11);
            d0 = Avx512F.FusedMultiplyAdd(x, y, d0); d1 = Avx512F.FusedMultiplyAdd(x, y, d1);
            d2 = Avx512F.FusedMultiplyAdd(x, y, d2); d3 = Avx512F.FusedMultiplyAdd(x, y, d3);
            d4 = Avx512F.FusedMultiplyAdd(x, y, d4); d5 = Avx512F.FusedMultiplyAdd(x, y, d5);
            d6 = Avx512F.FusedMultiplyAdd(x, y, d6); d7 = Avx512F.FusedMultiplyAdd(x, y, d7);
            d8 = Avx512F.FusedMultiplyAdd(x, y, d8); d9 = Avx512F.FusedMultiplyAdd(x, y, d9);
            d10 = Avx512F.FusedMultiplyAdd(x, y, d10); d11 = Avx512F.FusedMultiplyAdd(x, y, d11);
        }

        Vector512<float> s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11 +
                             d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7 + d8 + d9 + d10 + d11;
        return Vector512.Sum(s);
    }
}
