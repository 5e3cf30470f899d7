using Microsoft.AspNetCore.Http;

namespace ShopAstro.Storefront.Client.AspNetCore;

/// <summary>The decisions for the current request's shopper, set by the consent middleware.</summary>
public interface IConsentDecisionsFeature
{
    /// <summary>The shopper's subject id at the store (<c>anon:...</c> for an anonymous visitor); null when not checked.</summary>
    string? SubjectId { get; }

    bool IsAnonymous { get; }

    /// <summary>The request's own <c>DNT</c> / <c>Sec-GPC</c>, as forwarded to the edge.</summary>
    PrivacySignals Signals { get; }

    ConsentDecisions Decisions { get; }

    /// <summary>Whether the purpose is allowed for this request. Not asked, not checked or edge unavailable: false.</summary>
    bool IsAllowed(string purpose);

    /// <summary>The decision's reason code (<c>granted</c>, <c>do_not_track</c>, <c>unavailable</c>, <c>not_checked</c>, ...).</summary>
    string ReasonFor(string purpose);
}

internal sealed class ConsentDecisionsFeature(string? subjectId, PrivacySignals signals, ConsentDecisions decisions) : IConsentDecisionsFeature
{
    public static readonly IConsentDecisionsFeature NotChecked =
        new ConsentDecisionsFeature(null, default, new ConsentDecisions(string.Empty, string.Empty, null, []));

    public string? SubjectId => subjectId;

    public bool IsAnonymous => ConsentIds.IsAnonymous(subjectId);

    public PrivacySignals Signals => signals;

    public ConsentDecisions Decisions => decisions;

    public bool IsAllowed(string purpose) => decisions.IsAllowed(purpose);

    public string ReasonFor(string purpose) => decisions.ReasonFor(purpose);
}

public static class ConsentHttpContextExtensions
{
    /// <summary>
    /// The consent decisions of this request. Never null: a request the middleware did not check (a skipped
    /// path, or no middleware) answers every purpose denied with reason <c>not_checked</c>.
    /// </summary>
    public static IConsentDecisionsFeature GetConsentDecisions(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Features.Get<IConsentDecisionsFeature>() ?? ConsentDecisionsFeature.NotChecked;
    }
}
