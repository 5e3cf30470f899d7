using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using ShopAstro.Storefront.Client;
using ShopAstro.Storefront.Client.AspNetCore;

namespace ShopAstro.Samples.Storefront;

/// <summary>
/// The product page, and the two calls the consent banner makes. The browser talks only to this server;
/// the edge's token never leaves it.
/// </summary>
public static class StorefrontEndpoints
{
    public const string ConsentPath = "/consent";
    public const string ConsentStatePath = "/consent/state";

    public static WebApplication MapStorefrontEndpoints(this WebApplication app)
    {
        app.MapGet("/", ProductPage.Render).WithName("ProductPage");
        app.MapPost(ConsentPath, SaveChoice).WithName("SaveConsent");
        app.MapGet(ConsentStatePath, GetState).WithName("ConsentState");
        return app;
    }

    /// <summary>
    /// What each request asks the edge, in its one call: the page its three checks; the banner's state every
    /// consent-based purpose; saving a choice only needs the shopper's id.
    /// </summary>
    public static IEnumerable<string> PurposesFor(HttpContext context) => context.Request.Path.Value switch
    {
        ConsentPath => [],
        ConsentStatePath => ConsentPurposes.ConsentBased,
        _ => ConsentMiddlewareOptions.DefaultPurposes,
    };

    /// <summary>
    /// The banner's choice, forwarded with the shopper's own DNT / Sec-GPC (recorded with each choice). Only
    /// JSON is accepted, which a cross-site form cannot send without a CORS preflight this server never grants.
    /// </summary>
    private static async Task<IResult> SaveChoice(HttpContext context, ConsentClient edge)
    {
        var request = context.Request;
        if (request.Headers["Sec-Fetch-Site"] == "cross-site")
        {
            return Problem(StatusCodes.Status403Forbidden, "cross_site", "Consent is saved only from this store's own pages.");
        }

        if (!request.HasJsonContentType())
        {
            return Problem(StatusCodes.Status415UnsupportedMediaType, "json_required", "Send the choice as application/json.");
        }

        ConsentChoice? choice;
        try
        {
            choice = await request.ReadFromJsonAsync(StorefrontJsonContext.Default.ConsentChoice, context.RequestAborted);
        }
        catch (System.Text.Json.JsonException)
        {
            return Problem(StatusCodes.Status400BadRequest, "invalid_json", "The body is not the JSON of a consent choice.");
        }

        if (choice?.Purposes is not { Count: > 0 } purposes || purposes.Keys.Any(p => !ConsentPurposes.IsConsentBased(p)))
        {
            return Problem(StatusCodes.Status400BadRequest, "invalid_purposes",
                $"'purposes' must name consent-based purposes: {string.Join(", ", ConsentPurposes.ConsentBased)}.");
        }

        if (choice.PolicyVersion is not >= 1)
        {
            return Problem(StatusCodes.Status400BadRequest, "policy_version_required", "'policyVersion' must be the version the banner showed.");
        }

        var source = choice.Source ?? ConsentSources.Banner;
        if (source is not (ConsentSources.Banner or ConsentSources.AccountSettings))
        {
            return Problem(StatusCodes.Status400BadRequest, "invalid_source", "'source' must be banner or account_settings.");
        }

        var shopper = context.GetConsentDecisions();
        if (shopper.SubjectId is null)
        {
            return Problem(StatusCodes.Status400BadRequest, "no_subject", "The shopper could not be identified.");
        }

        try
        {
            await edge.SetConsentsAsync(edge.StoreId!, shopper.SubjectId, purposes, choice.PolicyVersion.Value, source,
                shopper.Signals, context.RequestAborted);
        }
        catch (ConsentApiException refused)
        {
            // The edge's own problem (422 policy_version_ahead, 409 subject_minor, 503 unavailable, ...) for the banner.
            return Problem(refused.Status, refused.Code ?? "edge_error", refused.Detail ?? refused.Title ?? "The choice was not recorded.");
        }

        return TypedResults.NoContent();
    }

    /// <summary>What the banner needs: the policy version a choice is given under, the purposes the store asks about, the current decisions.</summary>
    private static async Task<IResult> GetState(HttpContext context, ConsentClient edge)
    {
        context.Response.Headers.CacheControl = "no-store";
        StorePolicy? policy;
        try
        {
            policy = await edge.GetPolicyAsync(edge.StoreId!, context.RequestAborted);
        }
        catch (ConsentApiException failed)
        {
            return Problem(failed.IsUnavailable ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status502BadGateway,
                ConsentApiException.UnavailableCode, "The store's policy could not be read; ask again later.");
        }

        var shopper = context.GetConsentDecisions();
        var asked = policy?.ConsentPurposesInUse() ?? [];
        var decisions = asked.Select(p => new PurposeState(p, shopper.IsAllowed(p), shopper.ReasonFor(p))).ToArray();
        var choiceNeeded = !shopper.Decisions.Unavailable
            && decisions.Any(d => d.Reason is ConsentReasons.NoConsent or ConsentReasons.ReconsentRequired);
        return TypedResults.Ok(new ConsentStateResponse(
            edge.StoreId!, policy?.Version, asked, choiceNeeded, decisions, shopper.Signals));
    }

    private static ProblemHttpResult Problem(int status, string code, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, type: "urn:shopastro:storefront:" + code,
            extensions: new Dictionary<string, object?> { ["code"] = code });
}

/// <summary>The banner's POST body: <c>{"purposes":{"analytics":true},"policyVersion":1,"source":"banner"}</c>.</summary>
public sealed record ConsentChoice(Dictionary<string, bool>? Purposes, int? PolicyVersion, string? Source);

public sealed record ConsentStateResponse(
    string StoreId, int? PolicyVersion, IReadOnlyList<string> Purposes, bool ChoiceNeeded, IReadOnlyList<PurposeState> Decisions,
    PrivacySignals Signals);

public sealed record PurposeState(string Purpose, bool Allowed, string Reason);

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ConsentChoice))]
[JsonSerializable(typeof(ConsentStateResponse))]
internal sealed partial class StorefrontJsonContext : JsonSerializerContext;
