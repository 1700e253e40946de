using System.Diagnostics;
using System.Runtime.InteropServices;
using Xent.Linear;

namespace Xent.LinearBench;

/// <summary>The row kernel alone on one chunk's logits block (one thread): its share of the fused call.</summary>
internal static unsafe class RowsBench
{
    public static void Run(string[] args)
    {
        int rows = LceBench.Arg(args, "--rows", 128), v = LceBench.Arg(args, "--v", 32000);
        float* logits = (float*)NativeMemory.AlignedAlloc((nuint)((long)rows * v * 4), 64);
        float* copy = (float*)NativeMemory.AlignedAlloc((nuint)((long)rows * v * 4), 64);
        var rng = new Random(1);
        for (long i = 0; i < (long)rows * v; i++) copy[i] = (float)(rng.NextDouble() * 8 - 4);
        float* scratch = (float*)NativeMemory.AlignedAlloc((nuint)(v * 4 + 64), 64);
        int* targets = (int*)NativeMemory.Alloc((nuint)rows, 4);
        int* rowIdx = (int*)NativeMemory.Alloc((nuint)rows, 4);
        double* ce = (double*)NativeMemory.Alloc((nuint)rows, 8);
        double* zl = (double*)NativeMemory.Alloc((nuint)rows, 8);
        byte* correct = (byte*)NativeMemory.Alloc((nuint)rows, 1);
        float* amp = (float*)NativeMemory.Alloc((nuint)rows, 4);
        for (int i = 0; i < rows; i++) { targets[i] = i * 7 % v; rowIdx[i] = i; }
        foreach (bool grad in new[] { true, false, true })
        {
            for (int rep = 0; rep < 4; rep++)
            {
                Buffer.MemoryCopy(copy, logits, (long)rows * v * 4, (long)rows * v * 4);
                var k = new LinearRows
                {
                    Logits = logits, Vocab = v, Targets = targets, Rows = rowIdx, WeightSum = v, WriteGradient = grad,
                    GradScale = 1f / 2048, CrossEntropy = ce, ZLoss = zl,
                    Correct = correct, RowAmplitude = amp, Isa = Xent.Kernels.GemmMicroKernels.Best,
                };
                long t0 = Stopwatch.GetTimestamp();
                k.Execute(0, 0, rows);
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                Console.WriteLine($"rows {rows} × {v}, gradient {grad}: {s * 1e3:F1} ms = {s * 1e9 / ((double)rows * v):F2} ns per logit");
            }
        }
    }
}
