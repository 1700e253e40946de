namespace Xent.Kernels;

/// <summary>A bool fixed at compile time: a kernel generic over an <see cref="IFlag"/> struct is compiled once per
/// value, with the flag's branches folded away (the JIT does not unswitch loops on a plain bool).</summary>
internal interface IFlag
{
    static abstract bool On { get; }
}

/// <summary>The flag that is set.</summary>
internal readonly struct Set : IFlag
{
    public static bool On => true;
}

/// <summary>The flag that is clear.</summary>
internal readonly struct Clear : IFlag
{
    public static bool On => false;
}
