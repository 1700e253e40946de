using System.Diagnostics;
using System.Runtime.InteropServices;
using Xent.Kernels;

namespace Xent.LinearBench;

/// <summary>The register tile alone on packed panels that stay in cache: the ceiling the blocking can reach.</summary>
internal static unsafe class KernelBench
{
    public static void Run()
    {
        const int kc = 256, panels = 16; // B block of 16 panels × 32 columns = 512 KiB... in L2
        int mr = GemmMicroKernels.MR512, nr = GemmMicroKernels.NR512;
        float* a = (float*)NativeMemory.AlignedAlloc((nuint)(mr * kc * 4), 64);
        float* b = (float*)NativeMemory.AlignedAlloc((nuint)(nr * kc * panels * 4), 64);
        float* c = (float*)NativeMemory.AlignedAlloc((nuint)(mr * nr * panels * 4), 64);
        for (int i = 0; i < mr * kc; i++) a[i] = 0.001f * i;
        for (int i = 0; i < nr * kc * panels; i++) b[i] = 0.001f * i;
        for (int rep = 0; rep < 5; rep++)
        {
            long t0 = Stopwatch.GetTimestamp();
            const int iters = 2000;
            for (int it = 0; it < iters; it++)
            {
                for (int q = 0; q < panels; q++)
                {
                    GemmMicroKernels.Tile(GemmIsa.Vector512, kc, a, b + q * nr * kc, c + q * nr, nr * panels, mr, nr, true);
                }
            }

            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            Console.WriteLine($"kernel 12x32, kc {kc}: {2.0 * mr * nr * kc * panels * iters / s / 1e9:F1} GFLOP/s");
        }
    }
}
