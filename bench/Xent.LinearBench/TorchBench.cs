#if WITH_TORCH
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Xent.LinearBench;

/// <summary>libtorch on the same problem: <c>cross_entropy(H @ W.T, t)</c> with the gradients of H and W (the logits
/// and their gradient materialized, as PyTorch does), and its matmul on the GEMM shapes of one chunk.</summary>
internal static class TorchBench
{
    public static void Run(float[] hidden, float[] weight, int h, long[] target, int n, int v, int reps, double fusedMedian, double flop,
        float xentLoss, float[] xentGradHidden, float[] xentGradWeight)
    {
        string? failure = TryInitialize(Parallelism.MaxDegreeOfParallelism);
        if (failure != null)
        {
            Console.WriteLine($"libtorch: could not be loaded: {failure}");
            return;
        }

        Console.WriteLine($"libtorch {torch.__version__}, {torch.get_num_threads()} threads");
        using var hT = tensor(hidden, [n, h]).requires_grad_(true);
        using var wT = tensor(weight, [v, h]).requires_grad_(true);
        using var tT = tensor(target);
        float Step()
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(matmul(hT, wT.t()), tT);
            var grads = autograd.grad([loss], [hT, wT]);
            return loss.item<float>();
        }

        // Agreement (the issue's bound: relative error ≤ 2e-3 on the gradients): max |Xent − torch| / max |torch|.
        using (var scope = NewDisposeScope())
        {
            var loss = nn.functional.cross_entropy(matmul(hT, wT.t()), tT);
            var grads = autograd.grad([loss], [hT, wT]);
            float torchLoss = loss.item<float>();
            double Rel(float[] mine, Tensor theirs)
            {
                float[] t = theirs.data<float>().ToArray();
                double maxDiff = 0, maxAbs = 0;
                for (long i = 0; i < t.LongLength; i++)
                {
                    maxDiff = Math.Max(maxDiff, Math.Abs(mine[i] - t[i]));
                    maxAbs = Math.Max(maxAbs, Math.Abs(t[i]));
                }

                return maxDiff / maxAbs;
            }

            double rh = Rel(xentGradHidden, grads[0]), rw = Rel(xentGradWeight, grads[1]);
            Console.WriteLine($"agreement with libtorch: loss {xentLoss:R} vs {torchLoss:R} (|diff| {Math.Abs(xentLoss - torchLoss):E1}); " +
                              $"gradH relative error {rh:E2}, gradW relative error {rw:E2} (bound 2e-3: {(rh <= 2e-3 && rw <= 2e-3 ? "PASS" : "MISS")})");
        }

        (long rss, _, double first) = LceBench.Memory(Step);
        Console.WriteLine($"torch fwd+bwd, first call: {first * 1e3:F0} ms; extra peak RSS {rss / 1e6:F1} MB");
        var t = LceBench.Times(reps, Step);
        LceBench.Report("torch fwd+bwd", t, flop, Environment.ProcessorCount * LceBench.CorePeak);
        Console.WriteLine($"fused / torch time: {fusedMedian / t.Median:F3}");

        foreach ((string name, long m, long nn, long k) in new[] { ("logits 256×32000×512", 256L, 32000L, 512L), ("gradH 256×512×32000", 256L, 512L, 32000L), ("gradW 32000×512×256", 32000L, 512L, 256L) })
        {
            using var scope = NewDisposeScope();
            var a = randn(m, k);
            var b = randn(k, nn);
            matmul(a, b).Dispose();
            var mt = LceBench.Times(5, () => { using var c = matmul(a, b); return 0f; });
            Console.WriteLine($"torch matmul {name,-24} {2.0 * m * nn * k / mt.Best / 1e9,6:F1} GFLOP/s wall, {2.0 * m * nn * k / mt.Cpu / 1e9,6:F1} GFLOP per CPU-second");
        }
    }

    private static string? TryInitialize(int threads)
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        try
        {
            Console.SetOut(TextWriter.Null);
            Console.SetError(TextWriter.Null);
            Probe(threads);
            return null;
        }
        catch (Exception e)
        {
            while (e.InnerException != null) e = e.InnerException;
            return e.Message.Split('\n')[0];
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Probe(int threads)
    {
        InitializeDeviceType(DeviceType.CPU);
        set_num_threads(threads);
        using var one = ones(1);
        if (one.sum().item<float>() != 1f)
        {
            throw new InvalidOperationException("libtorch loaded but computed 1 != 1");
        }
    }
}
#endif
