@file:Suppress("unused", "UNUSED_PARAMETER")
package id.go.siap.app.ui
import androidx.compose.ui.Modifier
fun CameraPreview(grabber: id.go.siap.app.platform.FrameGrabber, modifier: Modifier = Modifier, lensFacing: Int = 0) {}
