using ShopAstro.EdgeApi.Http;

namespace ShopAstro.EdgeApi.Auth;

/// <summary>Marks an endpoint a partner token may call (only <c>GET .../aggregates</c>).</summary>
public sealed class PartnerAllowedAttribute : Attribute;

/// <summary>
/// A partner token is refused everywhere but on endpoints marked <see cref="PartnerAllowedAttribute"/>, also where no
/// token is needed (health, metrics, the dashboard's page and files) and where nothing matched: whatever is added
/// later, a partner token never reaches more than the aggregates.
/// </summary>
public sealed class PartnerConfinement(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (!context.User.IsInRole(EdgeRoles.Partner) || context.GetEndpoint()?.Metadata.GetMetadata<PartnerAllowedAttribute>() is not null)
        {
            return next(context);
        }

        return TypedResults.Problem(EdgeProblems.Details(StatusCodes.Status403Forbidden, "forbidden",
            "This token does not cover this store or operation.", "A partner token reads only GET /v1/stores/{storeId}/aggregates."))
            .ExecuteAsync(context);
    }
}
