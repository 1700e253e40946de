using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;
using TorchReduction = TorchSharp.torch.nn.Reduction;

namespace Xent.Bench.Compare;

/// <summary>
/// libtorch through TorchSharp on the same data: <c>torch.nn.functional.cross_entropy</c> / <c>nll_loss</c>,
/// mean reduction, ignore_index -100. Forward runs under no_grad; forward+backward takes the gradient with
/// <c>torch.autograd.grad</c>, i.e. a fresh gradient tensor per call, as a training step with grads set to None.
/// fp16 and bf16 logits (and weights) are tensors of that dtype, as with <c>logits.half()</c> in PyTorch.
/// </summary>
internal sealed class TorchReference : IDisposable
{
    private readonly Case _case;
    private readonly Tensor _input;
    private readonly Tensor _leaf;
    private readonly Tensor _target;
    private readonly Tensor? _weight;

    public TorchReference(Case @case, Problem problem)
    {
        _case = @case;
        var dtype = @case.Dtype switch
        {
            Dtype.Float32 => ScalarType.Float32,
            Dtype.Float16 => ScalarType.Float16,
            _ => ScalarType.BFloat16,
        };

        // The problem's fp32 values are already rounded to the element type, so the conversion is exact.
        var fp32 = tensor(problem.Input, problem.InputShape.Select(d => (long)d).ToArray());
        _input = dtype == ScalarType.Float32 ? fp32 : Narrowed(fp32, dtype);

        _leaf = _input.detach().requires_grad_(true); // same storage, a leaf that collects the gradient
        _target = tensor(problem.Target, problem.TargetShape.Select(d => (long)d).ToArray());
        if (problem.Weight.Length != 0)
        {
            _weight = dtype == ScalarType.Float32 ? tensor(problem.Weight) : Narrowed(tensor(problem.Weight), dtype);
        }
    }

    private static Tensor Narrowed(Tensor fp32, ScalarType dtype)
    {
        using (fp32)
        {
            return fp32.to(dtype);
        }
    }

    /// <summary>Loads the native backend and sets the thread count, or says why it cannot.</summary>
    /// <returns>null when libtorch works; otherwise a one-line reason.</returns>
    /// <remarks>
    /// When loading fails TorchSharp prints a long trace of every path it tried; that goes to a file instead,
    /// and the reason shown is the dynamic loader's own message for libLibTorchSharp.so when there is one
    /// (e.g. "version `GLIBCXX_3.4.32' not found"), which is the part that says what to fix.
    /// </remarks>
    public static string? TryInitialize(int threads)
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        var trace = new StringWriter();
        try
        {
            Console.SetOut(trace);
            Console.SetError(trace);
            Probe(threads);
            return null;
        }
        catch (Exception e)
        {
            string reason = LoaderError() ?? Innermost(e);
            string traceFile = Path.Combine(Path.GetTempPath(), "xent-bench-torchsharp-trace.txt");
            File.WriteAllText(traceFile, e + Environment.NewLine + trace);
            string fix = reason.Contains("GLIBCXX_", StringComparison.Ordinal)
                ? " Run bench/fix-torchsharp.sh, then rebuild."
                : "";
            return $"{reason}.{fix} (TorchSharp's trace: {traceFile})";
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    public static string Version => torch.__version__;

    public float Forward()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return Loss(_input).to(ScalarType.Float32).item<float>();
    }

    /// <summary>Forward and backward; copies the gradient into <paramref name="gradOut"/> when given.</summary>
    public float ForwardBackward(float[]? gradOut = null)
    {
        using var scope = NewDisposeScope();
        var loss = Loss(_leaf);
        var grad = autograd.grad([loss], [_leaf])[0];
        if (gradOut is not null)
        {
            MemoryMarshal.Cast<byte, float>(grad.to(ScalarType.Float32).contiguous().bytes).CopyTo(gradOut);
        }

        return loss.to(ScalarType.Float32).item<float>();
    }

    public void Dispose()
    {
        _weight?.Dispose();
        _target.Dispose();
        _leaf.Dispose();
        _input.Dispose();
    }

    private Tensor Loss(Tensor input) => _case.Nll
        // TorchSharp's nll_loss has no ignore_index parameter; it passes libtorch's default, -100, which is ours.
        ? nn.functional.nll_loss(input, _target, _weight, TorchReduction.Mean)
        : nn.functional.cross_entropy(input, _target, _weight, Problem.IgnoreIndex, TorchReduction.Mean, _case.LabelSmoothing);

    // Kept out of line so a missing native library surfaces here, inside the try, and not when the caller is jitted.
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

    // dlopen the wrapper ourselves: .NET puts dlerror()'s text in the DllNotFoundException message.
    private static string? LoaderError()
    {
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so"),
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
        ];
        foreach (string path in candidates.Where(File.Exists))
        {
            try
            {
                NativeLibrary.Free(NativeLibrary.Load(path));
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                // Keep dlerror()'s text, not .NET's advice around it ("... consider setting the LD_DEBUG environment variable: ").
                string message = e.Message.ReplaceLineEndings(" ");
                int advice = message.IndexOf("environment variable:", StringComparison.Ordinal);
                return (advice >= 0 ? message[(advice + "environment variable:".Length)..] : message).Trim().TrimEnd('.');
            }
        }

        return null;
    }

    private static string Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return $"{e.GetType().Name}: {e.Message.Split('\n', 2)[0].Trim().TrimEnd('.')}";
    }
}
