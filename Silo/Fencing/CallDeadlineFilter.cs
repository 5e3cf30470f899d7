using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Silo.Fencing;

/// <summary>
/// Gives each call that enters the cluster from outside a grain (an edge's request, a background service) a
/// <see cref="CallDeadline"/>: its response timeout from now, less <see cref="CallDeadline.Margin"/>. Calls made by
/// grains carry their caller's deadline (the request context flows with them). Calls bounded by the check timeout
/// are reads and go as they are.
/// </summary>
public sealed class CallDeadlineFilter(TimeProvider time) : IOutgoingGrainCallFilter
{
    /// <summary>Orleans' response timeout for a call that names none.</summary>
    public static readonly TimeSpan DefaultResponseTimeout = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan CheckTimeout = TimeSpan.Parse(CallTimeouts.Check, System.Globalization.CultureInfo.InvariantCulture);

    public Task Invoke(IOutgoingGrainCallContext context)
    {
        var timeout = context.Request.GetDefaultResponseTimeout() ?? DefaultResponseTimeout;
        return context.SourceContext is not null || timeout <= CheckTimeout || CallDeadline.Current is not null
            ? context.Invoke()
            : InvokeWithDeadlineAsync(context, time.GetUtcNow() + timeout - CallDeadline.Margin);
    }

    /// <summary>An async method of its own, so that the deadline set here stays with this call and does not leak to the caller's next ones.</summary>
    private static async Task InvokeWithDeadlineAsync(IOutgoingGrainCallContext context, DateTimeOffset deadline)
    {
        CallDeadline.Set(deadline);
        await context.Invoke();
    }
}
