using System.Diagnostics;
using System.Runtime.InteropServices;
using Xent.Kernels;

namespace Xent.LinearBench;

/// <summary>Packing cost alone: all of W (V × h) packed once as op(B) = Wᵀ (the logits product) and as op(B) = W (the
/// gradH product) — what each chunk pays besides its arithmetic.</summary>
internal static unsafe class PackBench
{
    public static void Run(string[] args)
    {
        int v = LceBench.Arg(args, "--v", 32000), h = LceBench.Arg(args, "--h", 512);
        const int kc = 256, nb = 512;
        float* w = (float*)NativeMemory.AlignedAlloc((nuint)((long)v * h * 4), 64);
        for (long i = 0; i < (long)v * h; i++) w[i] = i;
        float* dst = (float*)NativeMemory.AlignedAlloc(kc * nb * 4, 64);
        float* scratch = (float*)NativeMemory.AlignedAlloc(kc * 4, 64);
        for (int rep = 0; rep < 3; rep++)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int p0 = 0; p0 < h; p0 += kc)
            for (int j0 = 0; j0 < v; j0 += nb)
                GemmPack.B(w, h, true, p0, Math.Min(kc, h - p0), j0, Math.Min(nb, v - j0), 32, dst, scratch);
            double tT = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            t0 = Stopwatch.GetTimestamp();
            for (int p0 = 0; p0 < v; p0 += kc)
            for (int j0 = 0; j0 < h; j0 += nb)
                GemmPack.B(w, h, false, p0, Math.Min(kc, v - p0), j0, Math.Min(nb, h - j0), 32, dst, scratch);
            double tN = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            // A = G (c × V, c = 128) as the gradH product packs it, and as Gᵀ for the gradW product.
            const int c = 128;
            float* packA = (float*)NativeMemory.AlignedAlloc(480 * kc * 4 + 64, 64);
            t0 = Stopwatch.GetTimestamp();
            for (int p0 = 0; p0 < v; p0 += kc)
                GemmPack.A(w, v, false, 0, c, p0, Math.Min(kc, v - p0), 12, packA);
            double tA = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            t0 = Stopwatch.GetTimestamp();
            for (int i0 = 0; i0 < v; i0 += 480)
                GemmPack.A(w, v, true, i0, Math.Min(480, v - i0), 0, c, 12, packA);
            double tAt = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            NativeMemory.AlignedFree(packA);
            Console.WriteLine($"pack G ({c}×{v}) as A: {tA * 1e3:F1} ms; as Aᵀ: {tAt * 1e3:F1} ms");
            Console.WriteLine($"pack W ({v}×{h}) as Wᵀ: {tT * 1e3:F1} ms ({(double)v * h / tT / 1e9:F2} G floats/s); as W: {tN * 1e3:F1} ms");
        }
    }
}
